"""Settlement as a pure decision: what is charged where, what is given back, and a replay."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from govledger.ledger import events as ev
from govledger.ledger.charges import (
    BudgetId,
    Charge,
    charges_of,
    rate_charges_of,
    reservations_of,
    stored,
)
from govledger.ledger.periods import Schedule, parse_duration
from govledger.projections.policy import BudgetRule, KeyPolicy, ProviderKey, RateRule, Route
from govledger.projections.usage_state import Inflight, UsageState
from govledger.proxy.enforcement.admission import Admission, admit
from govledger.proxy.enforcement.cost import PriceBook, PriceOverride, TokenUsage
from govledger.proxy.enforcement.orphans import STALE, STOPPED, orphans
from govledger.proxy.enforcement.settlement import (
    Instant,
    Origin,
    Outcome,
    Ticket,
    abandon,
    settle,
)

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
LATER = Instant(NOW + timedelta(seconds=2), 102.5)
DAY = Schedule(parse_duration("1d"), calendar_aligned=True, anchor=datetime(2026, 1, 1, tzinfo=UTC))
ORIGIN = Origin("gw", "one")
PRICES = [PriceOverride("*", "m", Decimal("2.5"), Decimal("10"))]


def budget(budget_id: str, level: str) -> BudgetRule:
    """A daily strict budget that admits anything the tests reserve."""
    return BudgetRule(BudgetId(budget_id), level, budget_id, Decimal(1000), DAY, "strict")


def tokens_limit(scope: str, level: str) -> RateRule:
    """A token limit large enough to admit every request."""
    return RateRule(f"{scope}#tokens", level, "tokens", 10_000_000, 60.0)  # type: ignore[arg-type]


def route(index: int) -> Route:
    """Route `p{index}` with a budget and a token limit of its own."""
    scope = f"virtual_key:k/provider:p{index}"
    return Route(
        provider=f"p{index}",
        provider_type="openai",
        base_url="https://upstream.example/v1",
        weight=1.0,
        allowed_models=("*",),
        keys=(ProviderKey(f"p{index}-key", 1.0, ("*",), "secret"),),
        budgets=(budget(f"{scope}#1d", "provider_config"),),
        rates=(tokens_limit(scope, "provider_config"),),
    )


def key_policy(routes: int) -> KeyPolicy:
    """A key with budgets at the key, team and customer levels and a key token limit."""
    return KeyPolicy(
        key_id="k",
        name="k",
        is_active=True,
        expires_at=None,
        team_id="t",
        customer_id="c",
        routes=tuple(route(i) for i in range(routes)),
        budgets=(
            budget("virtual_key:k#1d", "virtual_key"),
            budget("team:t#1d", "team"),
            budget("customer:c#1d", "customer"),
        ),
        rates=(tokens_limit("virtual_key:k", "virtual_key"),),
        mcp_configs=(),
    )


@dataclass(frozen=True)
class Case:
    """One admitted request and how it ended."""

    ticket: Ticket
    outcome: Outcome


def admitted(policy: KeyPolicy, estimate: TokenUsage, seed: int) -> Ticket:
    """Admit a request as the gateway does (each route priced at its own bound)."""
    prices = PriceBook(PRICES, allow_unknown_at_zero=False)

    def cost_of(r: Route) -> Decimal:
        return prices.reservation_cost(r.provider_type, "m", estimate, NOW)

    tokens = estimate.input + estimate.output
    decision = admit(policy, UsageState(), "m", None, tokens, cost_of, NOW, random.Random(seed))
    assert isinstance(decision, Admission), decision
    request_id = str(uuid.UUID(int=seed + 1))
    return Ticket(request_id, "m", policy, decision, estimate, NOW, 100.0, ORIGIN)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """A request over 1-3 routes, served by one of its chain (or none), usage within bound."""
    estimate = TokenUsage(draw(st.integers(1, 50_000)), draw(st.integers(1, 50_000)))
    ticket = admitted(key_policy(draw(st.integers(1, 3))), estimate, draw(st.integers(0, 10**6)))
    chain = ticket.admission.chain
    served = draw(st.none() | st.sampled_from(chain))
    if served is None:
        status = draw(st.sampled_from(["failed", "upstream_error"]))
        return Case(ticket, Outcome(status, "x", None, None, "m", None, []))
    reported = draw(st.booleans())
    usage = (
        TokenUsage(
            draw(st.integers(0, estimate.input)),
            draw(st.integers(0, estimate.output)),
        )
        if reported
        else None
    )
    status = draw(st.sampled_from(["ok", "client_disconnected"]))
    key = served.keys[0].id
    return Case(ticket, Outcome(status, "", served, key, "m", usage, []))


def admitted_event(ticket: Ticket) -> ev.RequestAdmitted:
    """The admission event the gateway writes for a ticket."""
    return ev.RequestAdmitted(
        originator_id=uuid.UUID(ticket.request_id),
        originator_version=1,
        timestamp=ticket.admitted_at,
        request_id=ticket.request_id,
        instance=ORIGIN.instance,
        incarnation=ORIGIN.incarnation,
        key_id="k",
        team_id="t",
        customer_id="c",
        surface="openai_chat",
        model="m",
        provider=None,
        reservations=stored(ticket.admission.reservations),
        rate=stored(ticket.admission.rate),
        estimate={},
        headers={},
    )


def settled(case: Case) -> ev.RequestSettled:
    """The settlement of a case with a fresh price book."""
    return settle(case.ticket, case.outcome, PriceBook(PRICES, False), LATER)


@settings(max_examples=200, deadline=None)
@given(cases())
def test_settled_plus_released_equals_reserved_at_every_level(case: Case) -> None:
    state = UsageState()
    state.apply(admitted_event(case.ticket))
    reserved = {r.budget: r.amount for r in case.ticket.admission.reservations}
    assert {b: state.budgets[b].reserved for b in reserved} == reserved

    event = settled(case)
    state.apply(event)

    charged = {c.budget: c.amount for c in charges_of(event.charges)}
    for budget_id, held in reserved.items():
        usage = state.budgets[budget_id]
        released = held - usage.reserved
        spent = charged.get(budget_id, Decimal(0))
        assert usage.reserved == 0 and released == held  # every reservation is given back
        assert usage.settled == spent  # and the actual cost is charged instead
        assert spent <= held  # usage within the estimate never costs more than its bound
    assert not state.inflight


@settings(max_examples=200, deadline=None)
@given(cases())
def test_a_failover_charges_only_the_route_that_served(case: Case) -> None:
    event = settled(case)
    served = case.outcome.route
    charged = {c.budget for c in charges_of(event.charges)}
    key_levels = {b.id for b in case.ticket.policy.budgets}

    if served is None:
        assert charged == set() and event.cost == 0 and event.provider is None
        return
    assert charged == key_levels | {b.id for b in served.budgets}
    assert all(c.amount == event.cost for c in charges_of(event.charges))
    others = {b.id for r in case.ticket.admission.chain if r is not served for b in r.budgets}
    assert not charged & others
    primary = case.ticket.admission.chain[0]
    if served is not primary:  # the served route's own limit is charged, the primary's freed
        adjusted = {a.limit: a.amount for a in rate_charges_of(event.rate)}
        tokens = event.tokens["input"] + event.tokens["output"]
        estimate = case.ticket.estimate.input + case.ticket.estimate.output
        assert adjusted[served.rates[0].id] == tokens
        assert adjusted[primary.rates[0].id] == -estimate


@settings(max_examples=100, deadline=None)
@given(cases())
def test_a_token_limit_ends_where_charging_the_actual_tokens_would_put_it(case: Case) -> None:
    state = UsageState()
    state.apply(admitted_event(case.ticket))
    event = settled(case)
    state.apply(event)

    limit = case.ticket.policy.rates[0]  # the key's token limit: always charged
    tokens = event.tokens["input"] + event.tokens["output"]
    expected = NOW.timestamp() + tokens * limit.window_s / limit.capacity
    assert abs(state.tats[limit.id] - expected) < 1e-6


@settings(max_examples=100, deadline=None)
@given(cases())
def test_a_replay_of_the_same_inputs_gives_the_same_event(case: Case) -> None:
    first, second = settled(case), settled(case)

    assert first == second
    assert first.timestamp == LATER.wall and first.latency_ms == 2500.0


def test_a_request_without_reported_usage_is_charged_its_bound() -> None:
    ticket = admitted(key_policy(1), TokenUsage(1000, 500), 3)
    served = ticket.admission.chain[0]
    outcome = Outcome("ok", "", served, "p0-key", "m", None, [])

    event = settle(ticket, outcome, PriceBook(PRICES, False), LATER)

    assert event.cost == ticket.admission.bound_cost == Decimal("0.0075")
    assert event.price_source == "override:usage-missing-charged-bound"


def test_an_abandoned_request_is_charged_what_it_reserved() -> None:
    ticket = admitted(key_policy(2), TokenUsage(100, 100), 5)
    held = Inflight(ticket.admission.reservations, ticket.admission.rate, "gw", "zero", 0.0)

    event = abandon(ticket.request_id, held, STOPPED, ORIGIN, NOW)

    assert charges_of(event.charges) == tuple(
        Charge.of(r, r.amount) for r in ticket.admission.reservations
    )
    assert (event.instance, event.incarnation, event.timestamp) == ("gw", "one", NOW)


def test_orphans_are_an_earlier_incarnation_s_and_any_stale_request() -> None:
    reservations = reservations_of(
        [{"budget": "virtual_key:k#1d", "period": "2026-03-10T00:00:00+00:00", "amount": "1"}]
    )
    at = NOW.timestamp()
    inflight = {
        str(uuid.UUID(int=1)): Inflight(reservations, (), "gw", "zero", at),  # earlier me
        str(uuid.UUID(int=2)): Inflight(reservations, (), "gw", "one", at),  # me, running
        str(uuid.UUID(int=3)): Inflight(reservations, (), "other", "x", at),  # another, fresh
        str(uuid.UUID(int=4)): Inflight(reservations, (), "other", "x", at - 7200),  # stale
    }

    found = orphans(inflight, ORIGIN, 3600.0, NOW)

    assert [(e.request_id[-1], e.reason) for e in found] == [("1", STOPPED), ("4", STALE)]
