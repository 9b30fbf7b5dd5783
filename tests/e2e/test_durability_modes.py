"""`ledger.durability`: budgets are as strict in `after_response` as in `before_response`, and
in `after_response` each settlement is committed by the group commit with no request waiting.

Reservations and settlements are applied to the in-memory usage state before any response, in
both modes; only the moment the settlement is durable differs (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import openai
import pytest

from govledger.ledger import events as ev
from tests.conftest import RunningGateway
from tests.e2e.openai_support import (
    HELLO_WORDS,
    async_client,
    budget,
    chat_bound,
    client,
    cost_of,
    error_body,
    flush_ledger,
    hi,
    make_config,
    nothing_held,
    of_type,
    virtual_key,
    wait_until,
)

Factory = Callable[..., RunningGateway]
MODES = ("before_response", "after_response")
HI_COST = cost_of(1, HELLO_WORDS)
HI_BOUND = chat_bound("hi", 10)


def config(limit: Decimal, mode: str) -> dict[str, object]:
    """One key with a strict daily budget, in the given durability mode."""
    return make_config(
        keys=[virtual_key(budgets=[budget(str(limit))])], ledger={"durability": mode}
    )


@pytest.mark.parametrize("mode", MODES)
def test_a_strict_budget_admits_the_same_requests_in_both_modes(
    gateway_factory: Factory, mode: str
) -> None:
    limit = Decimal("0.0003")  # (n - 1) x cost + bound <= limit for n = 4
    gateway = gateway_factory(config(limit, mode))
    admitted = 0
    with client(gateway) as sdk:
        while admitted * HI_COST + HI_BOUND <= limit:
            sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=10)
            admitted += 1
        with pytest.raises(openai.APIStatusError) as caught:
            sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=10)
    assert admitted == 4
    assert caught.value.status_code == 402
    assert f"spent {4 * HI_COST} USD" in error_body(caught.value)["message"]
    flush_ledger(gateway)
    assert sum(e.cost for e in of_type(gateway, ev.RequestSettled)) == 4 * HI_COST


@pytest.mark.parametrize("mode", MODES)
async def test_a_concurrent_burst_never_overspends_in_either_mode(
    gateway_factory: Factory, store_url: str, mode: str
) -> None:
    limit = Decimal("0.0006")  # about 8 worst cases at once; 100 are sent at once
    gateway = gateway_factory(config(limit, mode), database_url=store_url)
    async with async_client(gateway) as sdk:

        async def one() -> Decimal | None:
            try:
                raw = await sdk.chat.completions.with_raw_response.create(
                    model="m1", messages=hi(), max_tokens=10
                )
            except openai.APIStatusError as error:
                assert (error.status_code, error_body(error)["code"]) == (402, "budget_exceeded")
                return None
            return Decimal(raw.headers["x-govledger-cost-usd"])

        results = await asyncio.gather(*(one() for _ in range(100)))
    costs = [c for c in results if c is not None]
    assert costs
    assert sum(costs) <= limit
    flush_ledger(gateway)
    settled = of_type(gateway, ev.RequestSettled)
    assert len(settled) == len(costs)
    assert sum(e.cost for e in settled) == sum(costs)
    assert gateway.runtime.usage.budgets["virtual_key:k1#1d"].settled == sum(costs)
    assert nothing_held(gateway)


def test_after_response_commits_the_settlement_with_no_caller_waiting(
    gateway_factory: Factory, store_url: str
) -> None:
    gateway = gateway_factory(config(Decimal(1), "after_response"), database_url=store_url)
    with client(gateway) as sdk:
        raw = sdk.chat.completions.with_raw_response.create(
            model="m1", messages=hi(), max_tokens=10
        )
    request_id = raw.headers["x-govledger-request-id"]

    def committed() -> list[ev.RequestSettled]:
        return [e for e in of_type(gateway, ev.RequestSettled) if e.request_id == request_id]

    # Nothing else is sent and nothing flushes: the group commit alone takes it to the store.
    [settled] = wait_until(committed, timeout=20, what="the settlement to be committed")
    assert settled.cost == Decimal(raw.headers["x-govledger-cost-usd"]) == HI_COST


@pytest.mark.parametrize("mode", MODES)
def test_while_the_store_cannot_commit_only_after_response_answers_and_keeps_the_settlement(
    gateway_factory: Factory, tmp_path: Path, mode: str
) -> None:
    """Another connection holds SQLite's write lock: before_response waits for the commit and
    answers 503 after the settle timeout; after_response answers 200 at once, and commits
    the settlement once the lock is released."""
    url = f"sqlite:///{tmp_path}/ledger.sqlite"
    gateway = gateway_factory(config(Decimal(1), mode), url, settle_timeout_s=1.0)
    with client(gateway) as sdk:
        sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=10)  # warm
        flush_ledger(gateway)
        lock = sqlite3.connect(tmp_path / "ledger.usage.sqlite", isolation_level=None, timeout=5)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            if mode == "before_response":
                with pytest.raises(openai.APIStatusError) as caught:
                    sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=10)
                assert caught.value.status_code == 503
            else:
                raw = sdk.chat.completions.with_raw_response.create(
                    model="m1", messages=hi(), max_tokens=10
                )
                assert raw.http_response.status_code == 200
        finally:
            lock.execute("COMMIT")
            lock.close()
    flush_ledger(gateway)
    settled = of_type(gateway, ev.RequestSettled)
    assert len(settled) == 2  # kept in both modes: nothing handed to the writer is lost
    if mode == "after_response":
        assert settled[-1].request_id == raw.headers["x-govledger-request-id"]
