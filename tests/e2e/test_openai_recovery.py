"""Crash recovery: requests admitted by an earlier incarnation of this instance and never
settled are closed at the next start with an abandoned event charged at their reservation;
those of other instances are left to them unless they are stale. On both stores."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import openai
import pytest

from govledger.ledger import events as ev
from govledger.ledger.periods import period_of
from govledger.ledger.store import Store
from tests.clocks import PinnedClock
from tests.conftest import RunningGateway
from tests.e2e.openai_support import (
    budget,
    caught_up_views,
    client,
    error_body,
    hi,
    make_config,
    of_type,
    view_budget,
    virtual_key,
)

Factory = Callable[..., RunningGateway]
BUDGET = "virtual_key:k1#1d"


@pytest.fixture
def clock() -> PinnedClock:
    """One instant for the whole test: both gateways and the orphans see the same day."""
    return PinnedClock(datetime.now(UTC))


def orphan(
    reservations: list[dict[str, Any]],
    admitted_at: datetime,
    instance: str = "test",
) -> ev.RequestAdmitted:
    """An admission whose process died before settling it."""
    request_id = uuid.uuid4().hex
    return ev.RequestAdmitted(
        originator_id=uuid.UUID(request_id),
        originator_version=1,
        timestamp=admitted_at,
        request_id=request_id,
        instance=instance,
        incarnation="crashed00001",
        key_id="k1",
        team_id=None,
        customer_id=None,
        surface="openai_chat",
        model="m1",
        provider=None,
        reservations=reservations,
        rate=[],
        estimate={"input": 26, "output": 10, "cost": reservations[0]["amount"]},
        headers={},
    )


def crash_with(gateway: RunningGateway, *admitted: ev.RequestAdmitted) -> None:
    """Stop the gateway and leave admissions it never settled in its store."""
    gateway.stop()
    store = Store(gateway.runtime.settings.database_url)
    try:
        store.usage.save(*admitted)
    finally:
        store.close()


def reservation(gateway: RunningGateway, amount: str) -> dict[str, Any]:
    """A reservation of `amount` on key k1's daily budget, in the period of the gateway's
    (pinned) clock."""
    rule = next(b for b in gateway.runtime.policy("k1").budgets if b.id == BUDGET)
    period = period_of(rule.schedule, gateway.runtime.clock.now()).key
    return {"budget": BUDGET, "period": period, "amount": Decimal(amount)}


def test_a_request_left_open_by_a_crash_is_abandoned_at_the_next_start_at_its_reservation(
    gateway_factory: Factory, store_url: str, clock: PinnedClock
) -> None:
    config = make_config(keys=[virtual_key(budgets=[budget("0.25")])])
    first = gateway_factory(config, store_url, clock=clock)
    held = reservation(first, "0.25")
    lost = orphan([held], clock.at)
    crash_with(first, lost)

    second = gateway_factory(config, store_url, clock=clock)
    [abandoned] = of_type(second, ev.RequestAbandoned)
    assert abandoned.request_id == lost.request_id
    assert abandoned.charges == [held]
    assert (abandoned.instance, abandoned.incarnation) == ("test", second.runtime.incarnation)
    assert abandoned.reason == "process stopped before settling"
    usage = second.runtime.usage
    assert not usage.inflight
    assert (usage.budgets[BUDGET].settled, usage.budgets[BUDGET].reserved) == (
        Decimal("0.25"),
        Decimal(0),
    )
    with caught_up_views(second) as db:
        assert view_budget(db, BUDGET) == (Decimal("0.25"), Decimal(0), 1)
        rows = db.query(
            "SELECT status, cost FROM gl_requests WHERE request_id = ?", (lost.request_id,)
        )
    assert [(status, Decimal(cost)) for status, cost in rows] == [("abandoned", Decimal("0.25"))]
    # The charge counts: the budget is spent.
    with client(second) as sdk, pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=10)
    assert caught.value.status_code == 402
    assert "spent 0.25 USD" in error_body(caught.value)["message"]


def test_open_requests_of_other_instances_are_left_alone_unless_stale(
    gateway_factory: Factory, store_url: str, clock: PinnedClock
) -> None:
    config = make_config(keys=[virtual_key(budgets=[budget("10")])])
    first = gateway_factory(config, store_url, clock=clock)
    fresh = orphan([reservation(first, "0.5")], clock.at, instance="elsewhere")
    stale = orphan(
        [reservation(first, "0.75")],
        instance="elsewhere",
        admitted_at=clock.at - timedelta(hours=2),
    )
    crash_with(first, fresh, stale)

    second = gateway_factory(config, store_url, clock=clock, abandon_after_s=3600)
    [abandoned] = of_type(second, ev.RequestAbandoned)
    assert abandoned.request_id == stale.request_id
    assert abandoned.reason == "never settled"
    usage = second.runtime.usage
    assert set(usage.inflight) == {fresh.request_id}
    assert (usage.budgets[BUDGET].settled, usage.budgets[BUDGET].reserved) == (
        Decimal("0.75"),
        Decimal("0.5"),
    )


def test_spend_and_rate_limit_state_survive_a_restart(
    gateway_factory: Factory, store_url: str, clock: PinnedClock
) -> None:
    limit = {"request_max_limit": 2, "request_reset_duration": "1m"}
    config = make_config(keys=[virtual_key(budgets=[budget("1")], rate_limit=limit)])
    first = gateway_factory(config, store_url, clock=clock)
    with client(first) as sdk:
        for _ in range(2):
            sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=10)
    spent = sum((e.cost for e in of_type(first, ev.RequestSettled)), Decimal(0))
    first.stop()

    second = gateway_factory(config, store_url, clock=clock)
    held = second.runtime.usage.budgets[BUDGET]
    assert (held.settled, held.reserved) == (spent, Decimal(0))
    with client(second) as sdk, pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=10)
    assert error_body(caught.value)["code"] == "request_limited"
    assert of_type(second, ev.RequestAbandoned) == []
