"""A first end-to-end check through the official openai SDK."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai

from tests.conftest import RunningGateway

KEY = "sk-bf-smoke-0123456789"
CONFIG: dict[str, Any] = {
    "providers": [
        {
            "name": "mock",
            "type": "openai",
            "base_url": "{MOCK}/v1",
            "keys": [{"id": "k1", "value": "sk-upstream"}],
        }
    ],
    "pricing_overrides": [
        {"provider": "openai", "model": "m1", "input_per_mtok": "1", "output_per_mtok": "2"}
    ],
    "virtual_keys": [
        {
            "id": "smoke",
            "name": "smoke",
            "value": KEY,
            "budgets": [{"max_limit": "1", "reset_duration": "1d"}],
            "provider_configs": [{"provider": "mock"}],
        }
    ],
}


def test_chat_completion_through_the_sdk_is_charged(
    gateway_factory: Callable[..., RunningGateway],
) -> None:
    gateway = gateway_factory(CONFIG)
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=KEY, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="m1", messages=[{"role": "user", "content": "hi"}], max_tokens=10
    )
    reply = raw.parse()
    assert reply.choices[0].message.content == "Hello from the mock upstream."
    assert raw.headers["x-govledger-cost-usd"] == "0.000011"
    chunks = list(
        client.chat.completions.create(
            model="m1", messages=[{"role": "user", "content": "hi"}], max_tokens=10, stream=True
        )
    )
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == "Hello from the mock upstream."
    )
    assert all(c.usage is None for c in chunks)
