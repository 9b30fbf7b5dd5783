"""Routing through the OpenAI SDK: weighted choice among a key's provider configs, failover
along the chain (each attempt in the settled event), pinning, key choice and skipped routes."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import openai
import pytest

from govledger.ledger import events as ev
from tests.conftest import RunningGateway, free_port, mock_stats
from tests.e2e.openai_support import (
    HELLO,
    async_client,
    budget,
    caught_up_views,
    client,
    error_body,
    failing_upstream,
    hi,
    make_config,
    of_type,
    provider,
    serve,
    settled_for,
    slow_stream_upstream,
    view_budget,
    virtual_key,
)

Factory = Callable[..., RunningGateway]


def weighted(heavy_url: str = "{MOCK}/v1", **heavy_route: Any) -> dict[str, Any]:
    """Providers `heavy` (weight 3) and `light` (weight 1) on one key."""
    return make_config(
        providers=[provider("heavy", heavy_url), provider("light")],
        keys=[
            virtual_key(
                providers=(),
                provider_configs=[
                    {"provider": "heavy", "weight": 3, **heavy_route},
                    {"provider": "light", "weight": 1},
                ],
            )
        ],
    )


async def send_many(gateway: RunningGateway, count: int, parallel: int = 50) -> list[str]:
    """Send `count` chat requests, `parallel` at a time; returns their request ids."""
    gate = asyncio.Semaphore(parallel)
    async with async_client(gateway) as sdk:

        async def one() -> str:
            async with gate:
                raw = await sdk.chat.completions.with_raw_response.create(
                    model="m1", messages=hi(), max_tokens=5
                )
                assert raw.parse().choices[0].message.content == HELLO
                return raw.headers["x-govledger-request-id"]

        return await asyncio.gather(*(one() for _ in range(count)))


async def test_weights_3_to_1_split_1000_requests_within_5_points_of_75_25(
    gateway_factory: Factory,
) -> None:
    config = weighted()
    # Among the heavy provider's upstream keys, weights 3:1 as well.
    config["providers"][0]["keys"] = [
        {"id": "heavy-a", "value": "sk-upstream-a", "weight": 3},
        {"id": "heavy-b", "value": "sk-upstream-b", "weight": 1},
    ]
    # A seeded source: the draws are one fixed sequence, not a fresh gamble on every run.
    gateway = gateway_factory(config, rng=random.Random(20261201))
    ids = await send_many(gateway, 1000)
    settled = of_type(gateway, ev.RequestSettled)
    assert sorted(e.request_id for e in settled) == sorted(ids)
    shares = Counter(e.provider for e in settled)
    assert set(shares) == {"heavy", "light"}
    assert abs(shares["heavy"] / 1000 - 0.75) <= 0.05, shares
    keys = Counter(e.provider_key_id for e in settled if e.provider == "heavy")
    assert abs(keys["heavy-a"] / shares["heavy"] - 0.75) <= 0.05, keys
    assert all(len(e.attempts) == 1 for e in settled)
    assert mock_stats(gateway)["requests"] == 1000


def test_only_provider_configs_that_allow_the_model_are_chosen(gateway_factory: Factory) -> None:
    gateway = gateway_factory(weighted(allowed_models=["m2"]))
    with client(gateway) as sdk:
        ids = [
            sdk.chat.completions.with_raw_response.create(
                model="m1", messages=hi(), max_tokens=5
            ).headers["x-govledger-request-id"]
            for _ in range(10)
        ]
        heavy = sdk.chat.completions.with_raw_response.create(
            model="heavy/m2", messages=hi(), max_tokens=5
        )
        with pytest.raises(openai.PermissionDeniedError) as caught:
            sdk.chat.completions.create(model="heavy/m1", messages=hi(), max_tokens=5)
    assert {settled_for(gateway, i).provider for i in ids} == {"light"}
    assert settled_for(gateway, heavy.headers["x-govledger-request-id"]).provider == "heavy"
    assert error_body(caught.value)["code"] == "model_blocked"


def assert_failed_over(gateway: RunningGateway, ids: list[str], status: int | None) -> None:
    """Every request was served by `light`; those that tried `heavy` first list both attempts."""
    settled = [settled_for(gateway, request_id) for request_id in ids]
    assert {e.status for e in settled} == {"ok"}
    assert {e.provider for e in settled} == {"light"}
    chains = Counter(tuple(a["provider"] for a in e.attempts) for e in settled)
    assert set(chains) <= {("heavy", "light"), ("light",)}
    assert chains[("heavy", "light")] >= len(ids) // 2  # heavy is the primary 3 times in 4
    for event in settled:
        if len(event.attempts) == 2:
            first, second = event.attempts
            assert (first["status"], first["key_id"]) == (status, "heavy-key")
            assert first["error"] == ("connection error" if status is None else "retryable status")
            assert (second["status"], second["error"]) == (200, "")
            assert event.provider_key_id == "light-key"


async def test_when_the_heavier_provider_is_down_requests_fail_over_to_the_other(
    gateway_factory: Factory,
) -> None:
    gateway = gateway_factory(weighted(f"http://127.0.0.1:{free_port()}/v1"))
    ids = await send_many(gateway, 40)
    assert_failed_over(gateway, ids, None)


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_when_the_heavier_provider_answers_an_error_requests_fail_over_to_the_other(
    gateway_factory: Factory, status: int
) -> None:
    with serve(failing_upstream(status)) as broken:
        gateway = gateway_factory(weighted(broken + "/v1"))
        ids = await send_many(gateway, 40)
    assert_failed_over(gateway, ids, status)


def test_a_pinned_provider_is_the_only_one_tried(gateway_factory: Factory) -> None:
    gateway = gateway_factory(weighted(f"http://127.0.0.1:{free_port()}/v1"))
    with client(gateway) as sdk:
        reply = sdk.chat.completions.create(model="light/m1", messages=hi(), max_tokens=5)
        assert reply.model == "m1"  # the upstream gets the bare model name
        with pytest.raises(openai.InternalServerError) as caught:
            sdk.chat.completions.create(model="heavy/m1", messages=hi(), max_tokens=5)
    assert error_body(caught.value)["code"] == "upstream_unavailable"
    settled = settled_for(gateway, caught.value.response.headers["x-govledger-request-id"])
    assert settled.status == "upstream_error"
    assert [a["provider"] for a in settled.attempts] == ["heavy"]
    assert of_type(gateway, ev.RequestAdmitted)[-1].provider == "heavy"


def test_only_the_provider_keys_named_by_the_route_are_used(gateway_factory: Factory) -> None:
    keys = [
        {"id": "key-a", "value": "sk-upstream-a", "weight": 100},
        {"id": "key-b", "value": "sk-upstream-b", "weight": 1},
    ]
    config = make_config(
        providers=[provider(keys=keys)],
        keys=[
            virtual_key(providers=(), provider_configs=[{"provider": "mock", "key_ids": ["key-b"]}])
        ],
    )
    gateway = gateway_factory(config)
    with client(gateway) as sdk:
        ids = [
            sdk.chat.completions.with_raw_response.create(
                model="m1", messages=hi(), max_tokens=5
            ).headers["x-govledger-request-id"]
            for _ in range(10)
        ]
    assert {settled_for(gateway, i).provider_key_id for i in ids} == {"key-b"}
    assert mock_stats(gateway)["last_headers"]["authorization"] == "Bearer sk-upstream-b"


def test_a_provider_config_at_its_rate_limit_is_skipped_not_refused(
    gateway_factory: Factory,
) -> None:
    limit = {"request_max_limit": 1, "request_reset_duration": "1m"}
    gateway = gateway_factory(weighted(rate_limit=limit))
    with client(gateway) as sdk:
        ids = [
            sdk.chat.completions.with_raw_response.create(
                model="m1", messages=hi(), max_tokens=5
            ).headers["x-govledger-request-id"]
            for _ in range(20)
        ]
        with pytest.raises(openai.RateLimitError) as caught:
            sdk.chat.completions.create(model="heavy/m1", messages=hi(), max_tokens=5)
    providers = Counter(settled_for(gateway, i).provider for i in ids)
    assert providers == {"heavy": 1, "light": 19}
    assert error_body(caught.value)["code"] == "request_limited"


async def test_a_failed_over_request_is_charged_only_to_the_provider_that_served_it(
    gateway_factory: Factory,
) -> None:
    config = make_config(
        providers=[provider("heavy", f"http://127.0.0.1:{free_port()}/v1"), provider("light")],
        keys=[
            virtual_key(
                providers=(),
                provider_configs=[
                    {"provider": "heavy", "weight": 3, "budgets": [budget("1")]},
                    {"provider": "light", "weight": 1, "budgets": [budget("1")]},
                ],
            )
        ],
    )
    gateway = gateway_factory(config)
    ids = await send_many(gateway, 20)
    spent = sum((settled_for(gateway, i).cost for i in ids), Decimal(0))
    usage = gateway.runtime.usage.budgets
    heavy, light = (usage[f"virtual_key:k1/provider:{p}#1d"] for p in ("heavy", "light"))
    assert (heavy.settled, heavy.reserved) == (Decimal(0), Decimal(0))
    assert (light.settled, light.reserved) == (spent, Decimal(0))
    with caught_up_views(gateway) as db:
        assert view_budget(db, "virtual_key:k1/provider:heavy#1d")[:2] == (Decimal(0), Decimal(0))
        assert view_budget(db, "virtual_key:k1/provider:light#1d")[:2] == (spent, Decimal(0))


async def test_when_the_heavier_provider_times_out_requests_fail_over_to_the_other(
    gateway_factory: Factory,
) -> None:
    with serve(slow_stream_upstream(latency_ms=3000)) as stalled:
        gateway = gateway_factory(weighted(stalled + "/v1"), upstream_timeout_s=0.5)
        ids = await send_many(gateway, 8)
    settled = [settled_for(gateway, i) for i in ids]
    assert {e.provider for e in settled} == {"light"}
    timed_out = [e.attempts[0] for e in settled if len(e.attempts) == 2]
    assert timed_out
    assert all(
        (a["provider"], a["status"], a["error"]) == ("heavy", None, "timeout") for a in timed_out
    )
    assert all(400 <= a["ms"] < 3000 for a in timed_out)
