"""Admission as a pure decision: refusals with their figures, exact limits, GCRA, all-or-none."""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from govledger.ledger import events as ev
from govledger.ledger.charges import BudgetId, Charge, LimitId, stored
from govledger.ledger.periods import Schedule, parse_duration, period_of
from govledger.projections.policy import BudgetRule, KeyPolicy, ProviderKey, RateRule, Route
from govledger.projections.usage_state import BudgetUsage, UsageState
from govledger.proxy.enforcement.admission import (
    Admission,
    Refusal,
    admit,
    budget_refusal,
    rate_refusal,
)
from govledger.proxy.enforcement.cost import PriceUnknownError

NOW = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)
DAY = Schedule(parse_duration("1d"), calendar_aligned=True, anchor=datetime(2025, 1, 1, tzinfo=UTC))
TODAY = period_of(DAY, NOW).key
MICRO = Decimal("0.000001")


def budget(rule_id: str, level: str, limit: str, mode: str = "strict") -> BudgetRule:
    """A daily budget rule."""
    return BudgetRule(BudgetId(rule_id), level, rule_id.split("#")[0], Decimal(limit), DAY, mode)


def requests_limit(rule_id: str, capacity: int, window_s: float = 60.0) -> RateRule:
    """A request-count limit at the key level."""
    return RateRule(LimitId(rule_id), "virtual_key", "requests", capacity, window_s)


def route(
    provider: str,
    weight: float = 1.0,
    budgets: Sequence[BudgetRule] = (),
    rates: Sequence[RateRule] = (),
    models: Sequence[str] = ("*",),
) -> Route:
    """A route with one usable key."""
    return Route(
        provider=provider,
        provider_type="openai",
        base_url=f"https://{provider}.example/v1",
        weight=weight,
        allowed_models=tuple(models),
        keys=(ProviderKey(f"{provider}-key", 1.0, ("*",), "secret"),),
        budgets=tuple(budgets),
        rates=tuple(rates),
    )


def policy(
    routes: Sequence[Route] = (),
    budgets: Sequence[BudgetRule] = (),
    rates: Sequence[RateRule] = (),
    is_active: bool = True,
    expires_at: float | None = None,
) -> KeyPolicy:
    """A key policy (one openai route unless routes are given)."""
    return KeyPolicy(
        key_id="ci",
        name="CI",
        is_active=is_active,
        expires_at=expires_at,
        team_id="platform",
        customer_id="acme",
        routes=tuple(routes) or (route("openai"),),
        budgets=tuple(budgets),
        rates=tuple(rates),
        mcp_configs=(),
    )


def used(**spent: tuple[str, str]) -> UsageState:
    """A usage state where each named budget has (settled, reserved) today."""
    state = UsageState()
    for rule_id, (settled, reserved) in spent.items():
        state.budgets[rule_id] = BudgetUsage(TODAY, Decimal(settled), Decimal(reserved))
    return state


def decide(
    key: KeyPolicy,
    state: UsageState,
    cost: Decimal | dict[str, Decimal] = Decimal("0.01"),
    tokens: int = 100,
    model: str = "gpt-4o",
    pinned: str | None = None,
    now: datetime = NOW,
) -> Admission | Refusal:
    """Run admission with a fixed cost (or a cost per provider) and a seeded RNG."""
    costs = cost if isinstance(cost, dict) else {}
    return admit(
        key,
        state,
        model,
        pinned,
        tokens,
        lambda r: costs.get(r.provider, cost if isinstance(cost, Decimal) else Decimal(0)),
        now,
        random.Random(7),
    )


def refused(outcome: Admission | Refusal) -> Refusal:
    """The refusal (failing if the request was admitted)."""
    assert isinstance(outcome, Refusal), outcome
    return outcome


def admitted(outcome: Admission | Refusal) -> Admission:
    """The admission (failing if the request was refused)."""
    assert isinstance(outcome, Admission), outcome
    return outcome


def hold(state: UsageState, admission: Admission, now: datetime) -> None:
    """Charge an admission's rate items, as folding its RequestAdmitted event does."""
    for item in admission.rate:
        state.charge_rate(item, now.timestamp(), clamp=True)


# --- the key itself --------------------------------------------------------------------------


def test_refuses_a_disabled_key() -> None:
    refusal = refused(decide(policy(is_active=False), UsageState()))

    assert (refusal.status, refusal.code, refusal.level) == (
        403,
        "virtual_key_blocked",
        "virtual_key",
    )
    assert refusal.message == "this virtual key is disabled"


def test_refuses_a_key_from_the_instant_it_expires() -> None:
    expiry = NOW.timestamp()

    refusal = refused(decide(policy(expires_at=expiry), UsageState()))
    earlier = decide(policy(expires_at=expiry), UsageState(), now=NOW - timedelta(microseconds=1))

    assert (refusal.status, refusal.code, refusal.level) == (
        403,
        "virtual_key_blocked",
        "virtual_key",
    )
    assert refusal.message == "this virtual key expired at 2025-06-10T12:00:00+00:00"
    assert isinstance(earlier, Admission)


def test_refuses_a_provider_the_key_may_not_use() -> None:
    refusal = refused(decide(policy(), UsageState(), pinned="anthropic"))

    assert (refusal.status, refusal.code, refusal.level) == (403, "provider_blocked", "virtual_key")
    assert "'anthropic'" in refusal.message


def test_refuses_a_model_no_route_allows() -> None:
    key = policy([route("openai", models=["gpt-4o-mini"])])

    refusal = refused(decide(key, UsageState(), model="gpt-4o"))

    assert (refusal.status, refusal.code, refusal.level) == (403, "model_blocked", "virtual_key")
    assert refusal.message == "model 'gpt-4o' is not allowed for this key"


def test_a_pinned_provider_limits_the_chain_to_it() -> None:
    key = policy([route("openai", weight=9), route("backup")])

    admission = admitted(decide(key, UsageState(), pinned="backup"))

    assert [r.provider for r in admission.chain] == ["backup"]


# --- budgets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("level", ["provider_config", "virtual_key", "team", "customer"])
def test_refuses_a_spent_budget_naming_its_level_and_figures(level: str) -> None:
    rule = budget(f"{level}:x#1d", level, "5.00")
    key = (
        policy([route("openai", budgets=[rule])])
        if level == "provider_config"
        else policy(budgets=[rule])
    )
    state = used(**{rule.id: ("4.50", "0.49")})

    refusal = refused(decide(key, state, cost=Decimal("0.02")))

    assert (refusal.status, refusal.code, refusal.level) == (402, "budget_exceeded", level)
    assert refusal.retry_after is None
    assert refusal.message == (
        f"budget exceeded at {level} '{level}:x' (1d budget): limit 5.00 USD, spent 4.50 USD, "
        "reserved 0.49 USD, this request needs up to 0.02 USD; "
        "the period resets at 2025-06-11T00:00:00+00:00"
    )


def test_strict_admits_exactly_up_to_the_limit() -> None:
    rule = budget("team:platform#1d", "team", "5")
    state = used(**{rule.id: ("3.25", "1.25")})

    assert budget_refusal(rule, state, Decimal("0.5"), NOW) is None
    assert isinstance(decide(policy(budgets=[rule]), state, cost=Decimal("0.5")), Admission)


def test_strict_refuses_one_micro_dollar_over_the_limit() -> None:
    rule = budget("team:platform#1d", "team", "5")
    state = used(**{rule.id: ("3.25", "1.25")})

    assert budget_refusal(rule, state, Decimal("0.5") + MICRO, NOW) is not None
    refused(decide(policy(budgets=[rule]), state, cost=Decimal("0.5") + MICRO))


def test_a_budget_of_last_period_does_not_count_today() -> None:
    rule = budget("team:platform#1d", "team", "5")
    state = UsageState()
    state.budgets[rule.id] = BudgetUsage(period_of(DAY, NOW - timedelta(days=1)).key, Decimal(5))

    assert budget_refusal(rule, state, Decimal("5"), NOW) is None


def test_optimistic_admits_while_settled_spend_is_under_the_limit() -> None:
    rule = budget("team:platform#1d", "team", "5", mode="optimistic")
    state = used(**{rule.id: ("4.999999", "100")})

    assert isinstance(decide(policy(budgets=[rule]), state, cost=Decimal("50")), Admission)


def test_optimistic_refuses_once_settled_spend_reaches_the_limit() -> None:
    rule = budget("team:platform#1d", "team", "5", mode="optimistic")
    state = used(**{rule.id: ("5", "0")})

    refusal = refused(decide(policy(budgets=[rule]), state, cost=Decimal("0")))

    assert (refusal.code, refusal.level) == ("budget_exceeded", "team")


# --- rate limits (GCRA) --------------------------------------------------------------------


@pytest.mark.parametrize(("capacity", "retry_after"), [(10, 6), (7, 9), (60, 1), (1, 60)])
def test_capacity_n_admits_n_at_once_then_refuses_until_one_slot_frees(
    capacity: int, retry_after: int
) -> None:
    rule = requests_limit("virtual_key:ci#requests", capacity)
    key = policy(rates=[rule])
    state = UsageState()
    for _ in range(capacity):
        hold(state, admitted(decide(key, state)), NOW)

    refusal = refused(decide(key, state))

    assert (refusal.status, refusal.code, refusal.level) == (429, "request_limited", "virtual_key")
    assert refusal.retry_after == retry_after
    assert f"retry in {retry_after}s" in refusal.message
    frees = NOW + timedelta(seconds=60 / capacity)
    assert isinstance(decide(key, state, now=frees - timedelta(milliseconds=1)), Refusal)
    assert isinstance(decide(key, state, now=NOW + timedelta(seconds=retry_after)), Admission)


def test_a_limit_idle_for_a_whole_window_admits_a_full_burst_again() -> None:
    rule = requests_limit("virtual_key:ci#requests", 3)
    state = UsageState()
    for _ in range(3):
        hold(state, admitted(decide(policy(rates=[rule]), state)), NOW)
    later = NOW + timedelta(seconds=60)

    for _ in range(3):
        hold(state, admitted(decide(policy(rates=[rule]), state, now=later)), later)

    assert isinstance(decide(policy(rates=[rule]), state, now=later), Refusal)


def test_a_request_larger_than_the_token_capacity_is_refused_for_a_window() -> None:
    rule = RateRule(LimitId("virtual_key:ci#tokens"), "virtual_key", "tokens", 1000, 60.0)

    refusal = refused(decide(policy(rates=[rule]), UsageState(), tokens=1001))

    assert (refusal.status, refusal.code, refusal.level) == (429, "token_limited", "virtual_key")
    assert refusal.retry_after == 60
    assert refusal.message == (
        "this request needs up to 1001 tokens but the virtual_key limit allows 1000 per 60s"
    )
    assert rate_refusal(rule, {}, 1000, NOW.timestamp()) is None


def test_a_route_over_its_rate_limit_falls_out_of_the_chain() -> None:
    busy = RateRule(LimitId("ci/provider:openai#requests"), "provider_config", "requests", 1, 60.0)
    key = policy([route("openai", weight=9, rates=[busy]), route("backup")])
    state = UsageState()
    state.tats[busy.id] = NOW.timestamp() + 60

    admission = admitted(decide(key, state))

    assert [r.provider for r in admission.chain] == ["backup"]


def test_when_every_route_refuses_the_first_routes_refusal_is_returned() -> None:
    spent = budget("ci/provider:openai#1d", "provider_config", "1")
    busy = RateRule(LimitId("ci/provider:backup#requests"), "provider_config", "requests", 1, 60.0)
    key = policy([route("openai", budgets=[spent]), route("backup", rates=[busy])])
    state = used(**{spent.id: ("1", "0")})
    state.tats[busy.id] = NOW.timestamp() + 60

    refusal = refused(decide(key, state))

    assert (refusal.code, refusal.level) == ("budget_exceeded", "provider_config")


# --- reservations --------------------------------------------------------------------------


def test_reservations_are_made_at_every_level() -> None:
    openai_budget = budget("ci/provider:openai#1d", "provider_config", "10")
    backup_budget = budget("ci/provider:backup#1d", "provider_config", "10")
    levels = [
        budget("virtual_key:ci#1d", "virtual_key", "10"),
        budget("team:platform#1d", "team", "10"),
        budget("customer:acme#1d", "customer", "10"),
    ]
    key_rate = requests_limit("virtual_key:ci#requests", 100)
    route_rate = RateRule(
        LimitId("ci/provider:openai#tokens"), "provider_config", "tokens", 10000, 60.0
    )
    key = policy(
        [
            route("openai", weight=1, budgets=[openai_budget], rates=[route_rate]),
            route("backup", weight=0, budgets=[backup_budget]),
        ],
        budgets=levels,
        rates=[key_rate],
    )
    costs = {"openai": Decimal("0.30"), "backup": Decimal("0.70")}

    admission = admitted(decide(key, UsageState(), cost=costs, tokens=250))

    assert [r.provider for r in admission.chain] == ["openai", "backup"]
    assert admission.bound_cost == Decimal("0.70")
    assert stored(admission.reservations) == [
        {"budget": "virtual_key:ci#1d", "period": TODAY, "amount": Decimal("0.70")},
        {"budget": "team:platform#1d", "period": TODAY, "amount": Decimal("0.70")},
        {"budget": "customer:acme#1d", "period": TODAY, "amount": Decimal("0.70")},
        {"budget": "ci/provider:openai#1d", "period": TODAY, "amount": Decimal("0.30")},
        {"budget": "ci/provider:backup#1d", "period": TODAY, "amount": Decimal("0.70")},
    ]
    assert stored(admission.rate) == [
        {"limit": key_rate.id, "kind": "requests", "amount": 1, "capacity": 100, "window_s": 60.0},
        {
            "limit": route_rate.id,
            "kind": "tokens",
            "amount": 250,
            "capacity": 10000,
            "window_s": 60.0,
        },
    ]


@pytest.mark.parametrize("full", ["virtual_key:ci#1d", "team:platform#1d", "customer:acme#1d"])
def test_a_refusal_at_any_level_reserves_nothing_anywhere(full: str) -> None:
    rules = [
        budget("virtual_key:ci#1d", "virtual_key", "10"),
        budget("team:platform#1d", "team", "10"),
        budget("customer:acme#1d", "customer", "10"),
    ]
    state = used(**{full: ("10", "0")})
    state.tats["virtual_key:ci#requests"] = NOW.timestamp() - 5
    before = copy.deepcopy(state)

    refusal = refused(
        decide(policy(budgets=rules, rates=[requests_limit("virtual_key:ci#requests", 5)]), state)
    )

    assert refusal.level == full.split(":")[0]
    assert state == before


def test_admission_never_changes_the_state_it_reads() -> None:
    rule = budget("team:platform#1d", "team", "10")
    state = used(**{rule.id: ("1", "1")})
    before: dict[str, Any] = copy.deepcopy(vars(state))

    admitted(decide(policy(budgets=[rule], rates=[requests_limit("k#requests", 5)]), state))

    assert vars(state) == before


# --- a property ------------------------------------------------------------------------------


def admitted_event(number: int, admission: Admission, at: datetime) -> ev.RequestAdmitted:
    """The RequestAdmitted event of an admission."""
    return ev.RequestAdmitted(
        originator_id=UUID(int=number),
        originator_version=1,
        timestamp=at,
        request_id=str(UUID(int=number)),
        instance="gw",
        incarnation="one",
        key_id="ci",
        team_id="platform",
        customer_id="acme",
        surface="openai",
        model="gpt-4o",
        provider=None,
        reservations=stored(admission.reservations),
        rate=stored(admission.rate),
        estimate={},
        headers={},
    )


def settled_event(number: int, admission: Admission, share: int, at: datetime) -> ev.RequestSettled:
    """The RequestSettled event of an admission that cost `share` percent of its bound."""
    charges = [Charge.of(r, r.amount * share / 100) for r in admission.reservations]
    return ev.RequestSettled(
        originator_id=UUID(int=number),
        originator_version=2,
        timestamp=at,
        request_id=str(UUID(int=number)),
        instance="gw",
        incarnation="one",
        status="ok",
        reason="",
        provider="openai",
        provider_key_id="openai-key",
        model="gpt-4o",
        tokens={},
        cost=admission.bound_cost * share / 100,
        price_source="override",
        charges=stored(charges),
        rate=[],
        attempts=[],
        latency_ms=1.0,
    )


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.decimals(min_value=0, max_value=3, places=6),
            st.integers(min_value=0, max_value=100),
            st.booleans(),
        ),
        max_size=40,
    )
)
def test_strict_budgets_never_hold_more_than_their_limit(
    requests: list[tuple[Decimal, int, bool]],
) -> None:
    rules = [
        budget("virtual_key:ci#1d", "virtual_key", "5"),
        budget("team:platform#1d", "team", "7.5"),
        budget("customer:acme#1d", "customer", "4.25"),
    ]
    key = policy(budgets=rules)
    state = UsageState()
    open_: list[tuple[int, Admission, int]] = []
    for number, (cost, share, settle_one) in enumerate(requests, start=1):
        outcome = decide(key, state, cost=cost)
        if isinstance(outcome, Admission):
            state.apply(admitted_event(number, outcome, NOW))
            open_.append((number, outcome, share))
        if settle_one and open_:
            state.apply(settled_event(*open_.pop(0), NOW))
        for rule in rules:
            usage = state.usage(rule.id, TODAY)
            assert usage.settled + usage.reserved <= rule.limit


def _priced_only(*priced: str) -> Any:
    """A cost function that knows prices for the named providers only."""

    def cost_of(r: Route) -> Decimal:
        if r.provider not in priced:
            raise PriceUnknownError(r.provider_type, "gpt-4o")
        return Decimal("0.01")

    return cost_of


def test_a_route_that_cannot_price_the_model_is_skipped() -> None:
    key = policy(routes=[route("claude"), route("openai")])
    decision = admit(
        key, UsageState(), "gpt-4o", None, 100, _priced_only("openai"), NOW, random.Random(7)
    )
    assert isinstance(decision, Admission)
    assert [r.provider for r in decision.chain] == ["openai"]


def test_no_route_that_can_price_the_model_raises_the_first_unknown_price() -> None:
    key = policy(routes=[route("claude"), route("gem")])
    with pytest.raises(PriceUnknownError):
        admit(key, UsageState(), "gpt-4o", None, 100, _priced_only(), NOW, random.Random(7))
