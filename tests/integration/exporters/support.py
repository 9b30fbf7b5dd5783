"""A config with a budget at every level, and helpers to drive a gateway and read /metrics."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

import openai

from tests.conftest import RunningGateway

KEY = "sk-bf-exporters-0123456789"
PROVIDER_SECRET = "sk-upstream-exporters-secret-42"
CONFIG: dict[str, Any] = {
    "providers": [
        {
            "name": "mock",
            "type": "openai",
            "base_url": "{MOCK}/v1",
            "keys": [{"id": "k1", "value": PROVIDER_SECRET}],
        }
    ],
    "pricing_overrides": [
        {"provider": "openai", "model": "m1", "input_per_mtok": "1", "output_per_mtok": "2"}
    ],
    "customers": [
        {"id": "acme", "name": "Acme", "budgets": [{"max_limit": "10", "reset_duration": "1M"}]}
    ],
    "teams": [
        {
            "id": "platform",
            "name": "Platform",
            "customer_id": "acme",
            "budgets": [{"max_limit": "5", "reset_duration": "1d"}],
        }
    ],
    "virtual_keys": [
        {
            "id": "exp",
            "name": "exp",
            "value": KEY,
            "team_id": "platform",
            "budgets": [{"max_limit": "1", "reset_duration": "1d"}],
            "provider_configs": [{"provider": "mock"}],
        }
    ],
}


def chat(gateway: RunningGateway, count: int) -> None:
    """Send `count` chat completions with the configured key."""
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=KEY, max_retries=0)
    for _ in range(count):
        client.chat.completions.create(
            model="m1", messages=[{"role": "user", "content": "hi"}], max_tokens=10
        )


def refused(gateway: RunningGateway) -> None:
    """Send one request with an unknown key (refused before admission)."""
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-bf-nobody", max_retries=0)
    try:
        client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "x"}])
    except openai.AuthenticationError:
        return
    raise AssertionError("an unknown key was accepted")


def scrape(gateway: RunningGateway) -> str:
    """The text of GET /metrics."""
    with urllib.request.urlopen(gateway.url + "/metrics") as response:  # noqa: S310
        return str(response.read().decode())


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of the exposition, or None if absent."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


def wait_for(gateway: RunningGateway, name: str, value: float, **labels: str) -> str:
    """Scrape until a sample reaches `value` (the fold runs in the projection process)."""
    deadline = time.monotonic() + 20
    while True:
        text = scrape(gateway)
        if sample(text, name, **labels) == value:
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}{labels} never reached {value}:\n{text}")
        time.sleep(0.1)
