"""Budgets through the OpenAI SDK: every level blocks on its own, strict budgets never overspend
whatever the concurrency, and the ledger, the response headers and the usage view agree to the
last Decimal digit.

Strict (the default) admits a request only if settled + reserved + its worst case fits the
limit. Optimistic admits while the settled spend is under the limit: what is in flight is not
counted, so it can end over the limit by what was admitted meanwhile (shown below).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest

from govledger.ledger import events as ev
from tests.conftest import RunningGateway
from tests.e2e.openai_support import (
    HELLO_WORDS,
    admitted_for,
    async_client,
    budget,
    caught_up_views,
    chat_bound,
    client,
    cost_of,
    error_body,
    flush_ledger,
    hi,
    make_config,
    mock_tokens,
    nothing_held,
    of_type,
    provider,
    say,
    settled_for,
    view_budget,
    virtual_key,
)

Factory = Callable[..., RunningGateway]
HI_COST = cost_of(1, HELLO_WORDS)  # "hi" with max_tokens=10: 1 input and 5 output tokens
HI_BOUND = chat_bound("hi", 10)  # its reservation: (16 + 8 + 2) input and 10 output tokens
LEVELS = ("provider_config", "virtual_key", "team", "customer")
BUDGET_IDS = {
    "provider_config": "virtual_key:k1/provider:mock#1d",
    "virtual_key": "virtual_key:k1#1d",
    "team": "team:t1#1d",
    "customer": "customer:c1#1d",
}
OWNERS = {"provider_config": "mock", "virtual_key": "k1", "team": "t1", "customer": "c1"}


def four_levels(limits: dict[str, str], mode: str = "strict") -> dict[str, Any]:
    """Key k1 in team t1 of customer c1, routed to the fake upstream; one daily budget per
    level, with the given limits (levels not named get none)."""

    def budgets(level: str) -> list[dict[str, Any]]:
        return [budget(limits[level], mode=mode)] if level in limits else []

    route = {"provider": "mock", "budgets": budgets("provider_config")}
    return make_config(
        customers=[{"id": "c1", "name": "C1", "budgets": budgets("customer")}],
        teams=[{"id": "t1", "name": "T1", "customer_id": "c1", "budgets": budgets("team")}],
        keys=[
            virtual_key(
                team_id="t1", providers=(), provider_configs=[route], budgets=budgets("virtual_key")
            )
        ],
    )


@pytest.mark.parametrize("level", LEVELS)
def test_a_budget_at_any_single_level_refuses_with_402_naming_the_level_and_figures(
    gateway_factory: Factory, level: str
) -> None:
    limits = {other: "100" for other in LEVELS}
    limits[level] = "0.0001"  # below the request's worst case
    gateway = gateway_factory(four_levels(limits))
    # With the SDK's default retries: x-should-retry: false must stop them.
    sdk = client(gateway, max_retries=2)
    with sdk, pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=10)
    error = caught.value
    assert type(error) is openai.APIStatusError
    assert error.status_code == 402
    assert error.response.headers["x-should-retry"] == "false"
    assert error.response.headers["x-govledger-request-id"]
    body = error_body(error)
    assert (body["code"], body["type"]) == ("budget_exceeded", "insufficient_quota")
    message = body["message"]
    assert message.startswith(f"budget exceeded at {level} '{OWNERS[level]}' (1d budget)")
    assert "limit 0.0001 USD, spent 0 USD, reserved 0 USD" in message
    assert f"this request needs up to {HI_BOUND} USD" in message
    flush_ledger(gateway)
    [rejected] = of_type(gateway, ev.RequestRejected)  # sent once: no retry
    assert (rejected.code, rejected.level) == ("budget_exceeded", level)
    assert of_type(gateway, ev.RequestAdmitted) == []
    assert nothing_held(gateway)


def test_a_request_reserves_and_is_charged_at_every_level_it_passed(
    gateway_factory: Factory,
) -> None:
    gateway = gateway_factory(four_levels(dict.fromkeys(LEVELS, "1")))
    with client(gateway) as sdk:
        raw = sdk.chat.completions.with_raw_response.create(
            model="m1", messages=hi(), max_tokens=10
        )
    request_id = raw.headers["x-govledger-request-id"]
    event = admitted_for(gateway, request_id)
    assert {r["budget"]: r["amount"] for r in event.reservations} == dict.fromkeys(
        BUDGET_IDS.values(), HI_BOUND
    )
    settled = settled_for(gateway, request_id)
    assert {c["budget"]: c["amount"] for c in settled.charges} == dict.fromkeys(
        BUDGET_IDS.values(), HI_COST
    )
    assert Decimal(raw.headers["x-govledger-cost-usd"]) == HI_COST
    usage = gateway.runtime.usage.budgets
    assert {b: (usage[b].settled, usage[b].reserved) for b in BUDGET_IDS.values()} == dict.fromkeys(
        BUDGET_IDS.values(), (HI_COST, 0)
    )
    with caught_up_views(gateway) as db:
        for budget_id in BUDGET_IDS.values():
            assert view_budget(db, budget_id) == (HI_COST, Decimal(0), 1)


def test_a_strict_budget_admits_only_while_the_worst_case_still_fits(
    gateway_factory: Factory,
) -> None:
    limit = Decimal("0.0003")
    gateway = gateway_factory(make_config(keys=[virtual_key(budgets=[budget(str(limit))])]))
    admitted = 0
    with client(gateway) as sdk:
        # n requests fit while (n - 1) x cost + bound <= limit: 4 here.
        while (admitted * HI_COST) + HI_BOUND <= limit:
            sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=10)
            admitted += 1
        with pytest.raises(openai.APIStatusError) as caught:
            sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=10)
    assert admitted == 4
    assert caught.value.status_code == 402
    assert f"spent {4 * HI_COST} USD" in error_body(caught.value)["message"]
    assert sum(e.cost for e in of_type(gateway, ev.RequestSettled)) == 4 * HI_COST < limit


def test_an_optimistic_budget_admits_while_settled_spend_is_under_the_limit(
    gateway_factory: Factory, tmp_path: Path
) -> None:
    """Optimistic: admitted while settled < limit, whatever the request may cost; it ends over
    the limit by up to one request (sequentially) or by everything in flight (concurrently).
    The same limit in strict mode refuses even the first request, whose worst case is over it.
    """
    limit = "0.0001"  # about two requests of HI_COST, under one HI_BOUND
    gateway = gateway_factory(
        make_config(keys=[virtual_key(budgets=[budget(limit, mode="optimistic")])])
    )
    with client(gateway) as sdk:
        for _ in range(2):
            sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=10)
        with pytest.raises(openai.APIStatusError) as caught:
            sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=10)
    assert caught.value.status_code == 402
    spent = sum(e.cost for e in of_type(gateway, ev.RequestSettled))
    assert spent == 2 * HI_COST > Decimal(limit)  # admitted at HI_COST < limit, then over

    strict = gateway_factory(
        make_config(keys=[virtual_key(budgets=[budget(limit)])]),
        database_url=f"sqlite:///{tmp_path}/strict.sqlite",
    )
    with client(strict) as sdk, pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=10)
    assert caught.value.status_code == 402


async def test_an_optimistic_budget_overshoots_under_a_concurrent_burst(
    gateway_factory: Factory,
) -> None:
    """Observed: all 50 are admitted (nothing has settled when they arrive), spending about
    25 times the limit. Sequentially the same budget admits two."""
    limit = Decimal("0.0001")
    gateway = gateway_factory(
        make_config(keys=[virtual_key(budgets=[budget(str(limit), mode="optimistic")])])
    )
    async with async_client(gateway) as sdk:

        async def one() -> bool:
            try:
                await sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=10)
            except openai.APIStatusError as error:
                assert error.status_code == 402
                return False
            return True

        results = await asyncio.gather(*(one() for _ in range(50)))
    spent = sum(e.cost for e in of_type(gateway, ev.RequestSettled))
    assert spent == results.count(True) * HI_COST
    assert results.count(True) > 2
    assert spent > limit


def burst_prompt(index: int) -> str:
    """Prompts of varied length and reply, so that costs differ between requests."""
    return "echo: " + " ".join(["word"] * (index % 7 + 1))


async def test_200_concurrent_requests_never_overspend_a_strict_budget_and_every_total_agrees(
    gateway_factory: Factory, store_url: str
) -> None:
    """Observed: 7 of the 200 are admitted (7 worst cases fit the limit at once, and the
    others arrive while those are in flight); spend ends at about a third of the limit."""
    limit = Decimal("0.001")  # settled spend could cover ~15 of these; 200 are sent at once
    gateway = gateway_factory(
        make_config(keys=[virtual_key(budgets=[budget(str(limit))])]), database_url=store_url
    )
    async with async_client(gateway) as sdk:

        async def one(index: int) -> Decimal | None:
            try:
                raw = await sdk.chat.completions.with_raw_response.create(
                    model="m1", messages=say(burst_prompt(index)[6:]), max_tokens=10
                )
            except openai.APIStatusError as error:
                assert (error.status_code, error_body(error)["code"]) == (402, "budget_exceeded")
                return None
            return Decimal(raw.headers["x-govledger-cost-usd"])

        results = await asyncio.gather(*(one(i) for i in range(200)))
    costs = [c for c in results if c is not None]
    assert 1 <= len(costs) <= limit / min(cost_of(mock_tokens(burst_prompt(0)), 1), HI_COST)
    settled = of_type(gateway, ev.RequestSettled)
    assert len(settled) == len(costs)
    assert {e.status for e in settled} == {"ok"}
    ledger_total = sum((e.cost for e in settled), Decimal(0))
    header_total = sum(costs, Decimal(0))
    assert ledger_total <= limit
    assert ledger_total == header_total
    assert str(ledger_total) == str(header_total)
    flush_ledger(gateway)
    assert len(of_type(gateway, ev.RequestRejected)) == 200 - len(costs)
    assert nothing_held(gateway)
    assert gateway.runtime.usage.budgets["virtual_key:k1#1d"].settled == ledger_total
    with caught_up_views(gateway) as db:
        settled_view, reserved_view, requests_view = view_budget(db, "virtual_key:k1#1d")
    assert settled_view == ledger_total
    assert str(settled_view) == str(ledger_total)
    assert (reserved_view, requests_view) == (Decimal(0), len(costs))


def test_a_provider_budget_applies_only_to_its_own_provider(gateway_factory: Factory) -> None:
    config = make_config(
        providers=[provider("mock"), provider("spare")],
        keys=[
            virtual_key(
                providers=(),
                provider_configs=[
                    {"provider": "mock", "budgets": [budget("0.0001")]},
                    {"provider": "spare"},
                ],
            )
        ],
    )
    gateway = gateway_factory(config)
    with client(gateway) as sdk:
        with pytest.raises(openai.APIStatusError) as caught:
            sdk.chat.completions.create(model="mock/m1", messages=hi(), max_tokens=10)
        assert caught.value.status_code == 402
        raw = sdk.chat.completions.with_raw_response.create(
            model="spare/m1", messages=hi(), max_tokens=10
        )
        # Unpinned, the exhausted route is skipped rather than refused.
        routed = [
            sdk.chat.completions.with_raw_response.create(model="m1", messages=hi(), max_tokens=10)
            for _ in range(10)
        ]
    assert settled_for(gateway, raw.headers["x-govledger-request-id"]).provider == "spare"
    assert {settled_for(gateway, r.headers["x-govledger-request-id"]).provider for r in routed} == {
        "spare"
    }
