"""Property tests of the UsageState reducer over random request lifecycles."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from govledger.ledger import events as ev
from govledger.projections.usage_state import BudgetUsage, UsageState

T0 = datetime(2025, 1, 1, tzinfo=UTC)
ZERO = Decimal(0)
BUDGETS = ("virtual_key:k#1d", "team:t#1w", "customer:c#1M")
PERIODS = ("2025-01-01T00:00:00+00:00", "2025-01-02T00:00:00+00:00", "2025-01-03T00:00:00+00:00")
LIMITS: tuple[dict[str, Any], ...] = (
    {"limit": "virtual_key:k#requests", "kind": "requests", "capacity": 10, "window_s": 60.0},
    {"limit": "virtual_key:k#tokens", "kind": "tokens", "capacity": 7000, "window_s": 3600.0},
)
Holding = tuple[str, str, Decimal]


@dataclass(frozen=True)
class Admit:
    """Admit a new request holding these reservations."""

    holdings: list[Holding]
    tokens: int
    gap_us: int


@dataclass(frozen=True)
class Close:
    """Close the pick-th open request: abandoned (charged its reservation) or settled."""

    pick: int
    abandon: bool
    charges: list[Holding]
    token_delta: int
    gap_us: int


@dataclass(frozen=True)
class Reject:
    """Refuse a request, which holds nothing."""

    gap_us: int


amounts = st.decimals(min_value=0, max_value=50, places=6)
holdings = st.lists(
    st.tuples(st.sampled_from(BUDGETS), st.sampled_from(PERIODS), amounts),
    max_size=3,
    unique_by=lambda h: h[0],
)
gaps = st.integers(min_value=0, max_value=90_000_000)
steps = st.one_of(
    st.builds(Admit, holdings, st.integers(min_value=1, max_value=4000), gaps),
    st.builds(
        Close,
        st.integers(min_value=0, max_value=1000),
        st.booleans(),
        holdings,
        st.integers(min_value=-4000, max_value=4000),
        gaps,
    ),
    st.builds(Reject, gaps),
)
workloads = st.lists(steps, max_size=40)


def request_id(number: int) -> str:
    """The id of the n-th request (a UUID, as the gateway makes them)."""
    return str(UUID(int=number))


def items(held: Sequence[Holding]) -> list[dict[str, Any]]:
    """Reservation or charge items as the events carry them."""
    return [{"budget": b, "period": p, "amount": a} for b, p, a in held]


def rate_items(tokens: int) -> list[dict[str, Any]]:
    """What one request charges each rate limit."""
    return [{**limit, "amount": 1 if limit["kind"] == "requests" else tokens} for limit in LIMITS]


def admitted(number: int, at: datetime, held: Sequence[Holding], tokens: int) -> ev.RequestAdmitted:
    """A RequestAdmitted event."""
    return ev.RequestAdmitted(
        originator_id=UUID(int=number),
        originator_version=1,
        timestamp=at,
        request_id=request_id(number),
        instance="gw",
        incarnation="one",
        key_id="k",
        team_id="t",
        customer_id="c",
        surface="openai",
        model="gpt-4o",
        provider=None,
        reservations=items(held),
        rate=rate_items(tokens),
        estimate={},
        headers={},
    )


@dataclass
class Workload:
    """The events of a list of steps, and what the open requests hold."""

    events: list[ev.LedgerEvent]
    open: dict[str, list[Holding]]
    charges: list[Holding]
    reservations: list[Holding]
    clock: datetime
    count: int

    @classmethod
    def of(cls, plan: Sequence[Admit | Close | Reject], close_all: bool = False) -> Workload:
        """Turn steps into events, in order, with rising timestamps."""
        work = cls([], {}, [], [], T0, 0)
        for step in plan:
            work.clock += timedelta(microseconds=step.gap_us)
            if isinstance(step, Admit):
                work.admit(step.holdings, step.tokens)
            elif isinstance(step, Close) and work.open:
                rid = sorted(work.open)[step.pick % len(work.open)]
                work.close(rid, step.abandon, step.charges, step.token_delta)
            elif isinstance(step, Reject):
                work.reject()
        if close_all:
            for rid in sorted(work.open):
                work.close(rid, True, [], 0)
        return work

    def admit(self, held: list[Holding], tokens: int) -> ev.RequestAdmitted:
        self.count += 1
        event = admitted(self.count, self.clock, held, tokens)
        self.events.append(event)
        self.open[event.request_id] = held
        self.reservations += held
        return event

    def close(self, rid: str, abandon: bool, charges: list[Holding], token_delta: int) -> None:
        held = self.open.pop(rid)
        common: dict[str, Any] = {
            "originator_id": UUID(rid),
            "originator_version": 2,
            "timestamp": self.clock,
            "request_id": rid,
            "instance": "gw",
            "incarnation": "one",
        }
        if abandon:
            self.charges += held
            self.events.append(
                ev.RequestAbandoned(**common, reason="never settled", charges=items(held))
            )
            return
        self.charges += charges
        rate = [{**LIMITS[1], "amount": token_delta}] if token_delta else []
        self.events.append(
            ev.RequestSettled(
                **common,
                status="ok",
                reason="",
                provider="openai",
                provider_key_id="main",
                model="gpt-4o",
                tokens={"input": 1, "output": 1},
                cost=sum((a for _, _, a in charges), ZERO),
                price_source="override",
                charges=items(charges),
                rate=rate,
                attempts=[],
                latency_ms=1.0,
            )
        )

    def reject(self) -> None:
        self.count += 1
        self.events.append(
            ev.RequestRejected(
                originator_id=UUID(int=self.count),
                originator_version=1,
                timestamp=self.clock,
                request_id=request_id(self.count),
                key_id="k",
                surface="openai",
                model="gpt-4o",
                code="budget_exceeded",
                level="team",
                message="no",
                headers={},
            )
        )

    def current_period(self, budget: str) -> str | None:
        """The latest period any event named for a budget: the one the state holds."""
        seen = [p for b, p, _ in self.reservations + self.charges if b == budget]
        return max(seen, default=None)


def folded(events: Sequence[ev.LedgerEvent], state: UsageState | None = None) -> UsageState:
    """Apply events in order to a state (a fresh one by default)."""
    state = UsageState() if state is None else state
    for event in events:
        state.apply(event)
    return state


@settings(max_examples=150, deadline=None)
@given(workloads)
def test_reserved_returns_to_zero_when_every_request_is_closed(
    plan: list[Admit | Close | Reject],
) -> None:
    work = Workload.of(plan, close_all=True)

    state = folded(work.events)

    assert state.inflight == {}
    assert {b: u.reserved for b, u in state.budgets.items()} == dict.fromkeys(state.budgets, ZERO)


@settings(max_examples=150, deadline=None)
@given(workloads)
def test_reserved_is_what_open_requests_hold_in_the_current_period(
    plan: list[Admit | Close | Reject],
) -> None:
    work = Workload.of(plan)

    state = folded(work.events)

    assert set(state.inflight) == set(work.open)
    for budget in BUDGETS:
        period = work.current_period(budget)
        held = [a for h in work.open.values() for b, p, a in h if (b, p) == (budget, period)]
        assert state.budgets.get(budget, BudgetUsage("")).reserved == sum(held, ZERO)


@settings(max_examples=150, deadline=None)
@given(workloads)
def test_settled_is_the_sum_of_charges_in_the_current_period(
    plan: list[Admit | Close | Reject],
) -> None:
    work = Workload.of(plan)

    state = folded(work.events)

    for budget in BUDGETS:
        period = work.current_period(budget)
        if period is None:
            assert budget not in state.budgets
            continue
        charged = [a for b, p, a in work.charges if (b, p) == (budget, period)]
        assert state.budgets[budget].period == period
        assert state.budgets[budget].settled == sum(charged, ZERO)


@settings(max_examples=100, deadline=None)
@given(workloads)
def test_replaying_the_same_events_into_a_fresh_state_gives_an_equal_state(
    plan: list[Admit | Close | Reject],
) -> None:
    work = Workload.of(plan)

    live = folded(work.events)
    replayed = folded(copy.deepcopy(work.events))

    assert replayed == live


@settings(max_examples=100, deadline=None)
@given(workloads, workloads)
def test_a_state_carried_on_from_a_snapshot_equals_one_folded_from_the_start(
    first: list[Admit | Close | Reject], second: list[Admit | Close | Reject]
) -> None:
    work = Workload.of(first + second)
    cut = len(Workload.of(first).events)

    snapshot = copy.deepcopy(folded(work.events[:cut]))

    assert folded(work.events[cut:], snapshot) == folded(work.events)


@settings(max_examples=150, deadline=None)
@given(workloads, holdings, st.integers(min_value=1, max_value=7000), gaps)
def test_forget_undoes_an_admission_exactly(
    plan: list[Admit | Close | Reject], held: list[Holding], tokens: int, gap_us: int
) -> None:
    work = Workload.of(plan)
    state = folded(work.events)
    before = copy.deepcopy(state)
    work.clock += timedelta(microseconds=gap_us)
    event = work.admit(held, tokens)

    state.apply(event)
    state.forget(event.request_id)

    assert state.inflight == before.inflight
    touched = {b for b, _, _ in held}
    for budget in set(BUDGETS) - touched:
        assert state.budgets.get(budget) == before.budgets.get(budget)
    for budget, period, _ in held:
        # Every period from the admission's on reads as before; an older one was over anyway.
        for later in (p for p in PERIODS if p >= period):
            assert state.usage(budget, later) == before.usage(budget, later)
    now = event.timestamp.timestamp()
    for limit in LIMITS:
        # GCRA reads max(TAT, now): an idle limit's TAT below now means the same as now.
        was = max(before.tats.get(limit["limit"], now), now)
        assert math.isclose(state.tats[limit["limit"]], was, rel_tol=0, abs_tol=1e-6)


def test_forget_of_an_unknown_request_changes_nothing() -> None:
    work = Workload.of([Admit([(BUDGETS[0], PERIODS[0], Decimal("1"))], 10, 0)])
    state = folded(work.events)
    before = copy.deepcopy(state)

    state.forget(request_id(999))

    assert state == before


def test_a_newer_period_starts_from_zero_and_an_older_one_is_ignored() -> None:
    work = Workload([], {}, [], [], T0, 0)
    work.admit([(BUDGETS[0], PERIODS[1], Decimal("2"))], 10)
    work.admit([(BUDGETS[0], PERIODS[0], Decimal("5"))], 10)
    state = folded(work.events)

    assert state.budgets[BUDGETS[0]] == BudgetUsage(PERIODS[1], ZERO, Decimal("2"))
    assert state.usage(BUDGETS[0], PERIODS[2]) == BudgetUsage(PERIODS[2])

    work.admit([(BUDGETS[0], PERIODS[2], Decimal("1"))], 10)
    state = folded(work.events)

    assert state.budgets[BUDGETS[0]] == BudgetUsage(PERIODS[2], ZERO, Decimal("1"))


def test_an_admission_advances_each_rate_limit_by_its_emission_interval() -> None:
    work = Workload([], {}, [], [], T0, 0)
    work.admit([], 700)
    now = T0.timestamp()

    state = folded(work.events)

    assert state.tats == {
        "virtual_key:k#requests": now + 6.0,  # 1 request x 60 s / 10
        "virtual_key:k#tokens": now + 360.0,  # 700 tokens x 3600 s / 7000
    }
