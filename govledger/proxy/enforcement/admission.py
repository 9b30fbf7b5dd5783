"""Admission: a pure decision over a key's policy, the usage state, the request and the time.

Strict budgets admit only if settled + reserved + this request's upper bound fits the limit;
optimistic budgets admit while settled spend is under the limit. Rate limits use GCRA:
each limit holds a theoretical arrival time (TAT) advanced by amount x window/capacity, and
a request is admitted if the TAT stays within one window of now.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from govledger.ledger.charges import LimitId, RateCharge, Reservation
from govledger.ledger.periods import PeriodMemo
from govledger.projections.policy import BudgetRule, KeyPolicy, RateRule, Route
from govledger.projections.rate_grants import rate_key
from govledger.projections.usage_state import UsageState
from govledger.proxy.enforcement.cost import PriceUnknownError
from govledger.proxy.enforcement.rate_allotment import retry_after
from govledger.proxy.enforcement.routing import choose_chain
from govledger.proxy.enforcement.weights import ADAPTED

EPSILON = 1e-9
PERIODS = PeriodMemo()  # a pure memo: each schedule's last period


@dataclass(frozen=True)
class Shortfall:
    """What this instance's allotment of a strict budget period (or of a rate limit's book,
    `budget` then being `rate:{limit}` and `limit` its capacity) lacks to admit a request."""

    budget: str
    period: str
    limit: Decimal
    deficit: Decimal  # how much more must be granted
    opening: Decimal  # the period's settled + reserved as seen here (a new book's opening)


@dataclass(frozen=True)
class Refusal:
    """Why a request was refused: HTTP status, code, level and a message with figures."""

    status: int
    code: str
    level: str
    message: str
    retry_after: int | None = None
    shortfall: Shortfall | None = None  # set when only this instance's allotment is short


@dataclass(frozen=True)
class Admission:
    """What an admitted request holds: its route chain, reservations and rate charges."""

    chain: tuple[Route, ...]
    reservations: tuple[Reservation, ...]
    rate: tuple[RateCharge, ...]
    bound_cost: Decimal


CostOf = Callable[[Route], Decimal]


def budget_refusal(
    rule: BudgetRule, state: UsageState, amount: Decimal, now: datetime
) -> Refusal | None:
    """None if the budget admits `amount` now, else a 402 naming the level and figures."""
    period = PERIODS.period_of(rule.schedule, now)
    usage = state.usage(rule.id, period.key)
    if rule.mode == "optimistic":
        admitted = usage.settled < rule.limit
    else:
        admitted = usage.settled + usage.reserved + amount <= rule.limit
    if admitted and rule.mode == "strict" and state.holder is not None:
        return allotment_refusal(rule, state, amount, now, period.key, period.end)
    if admitted:
        return None
    return Refusal(
        402,
        "budget_exceeded",
        rule.level,
        f"budget exceeded at {rule.level} {rule.owner!r} ({rule.schedule.duration} budget): "
        f"limit {rule.limit} USD, spent {usage.settled} USD, reserved {usage.reserved} USD, "
        f"this request needs up to {amount} USD; the period resets at {period.end.isoformat()}",
    )


def allotment_refusal(
    rule: BudgetRule,
    state: UsageState,
    amount: Decimal,
    now: datetime,
    period: str,
    end: datetime,
) -> Refusal | None:
    """None if this instance's allotment covers `amount`, else a 402 carrying the shortfall
    (the caller asks for more before it refuses)."""
    held, spent = state.own_allotment(rule.id, period, now.timestamp())
    if spent + amount <= held:
        return None
    usage = state.usage(rule.id, period)
    return Refusal(
        402,
        "budget_exceeded",
        rule.level,
        f"budget exceeded at {rule.level} {rule.owner!r} ({rule.schedule.duration} budget): "
        f"limit {rule.limit} USD across instances, every part of it spent, reserved or "
        f"allotted to another instance; this instance holds {held} USD and has used {spent} "
        f"USD, this request needs up to {amount} USD; the period resets at {end.isoformat()}",
        shortfall=Shortfall(
            rule.id, period, rule.limit, spent + amount - held, usage.settled + usage.reserved
        ),
    )


def rate_refusal(rule: RateRule, tats: dict[str, float], amount: int, now: float) -> Refusal | None:
    """None if the GCRA limit admits `amount` now, else a 429 with Retry-After."""
    code = "request_limited" if rule.kind == "requests" else "token_limited"
    interval = rule.window_s / rule.capacity
    tat = max(tats.get(rule.id, now), now)
    new_tat = tat + amount * interval
    if new_tat - now <= rule.window_s + EPSILON:
        return None
    if amount > rule.capacity:
        return Refusal(
            429,
            code,
            rule.level,
            f"this request needs up to {amount} {rule.kind} but the {rule.level} limit allows "
            f"{rule.capacity} per {rule.window_s:g}s",
            retry_after=int(rule.window_s),
        )
    wait = math.ceil(new_tat - rule.window_s - now)
    return Refusal(
        429,
        code,
        rule.level,
        f"rate limit of {rule.capacity} {rule.kind} per {rule.window_s:g}s reached at "
        f"{rule.level}; retry in {max(wait, 1)}s",
        retry_after=max(wait, 1),
    )


def limit_refusal(rule: RateRule, state: UsageState, amount: int, now: float) -> Refusal | None:
    """GCRA as folded here (`rate_refusal`) and, across instances, this holder's usable grant
    of the limit's shared book: a 429 carrying the shortfall while only the grant is short,
    its Retry-After the time the book would grant it (as last read)."""
    refusal = rate_refusal(rule, state.tats, amount, now)
    if state.holder is None or refusal is not None:
        return refusal
    key = rate_key(rule.id, rule.capacity, rule.window_s)
    grants = state.rate_grants.get(key)
    usable = 0 if grants is None else grants.usable(now)
    if usable >= amount:
        return None
    wait = retry_after(state.rate_ready.get(key, now), now)
    code = "request_limited" if rule.kind == "requests" else "token_limited"
    return Refusal(
        429,
        code,
        rule.level,
        f"rate limit of {rule.capacity} {rule.kind} per {rule.window_s:g}s reached at "
        f"{rule.level} across instances; retry in {wait}s",
        retry_after=wait,
        shortfall=Shortfall(*key, Decimal(rule.capacity), Decimal(amount - usable), Decimal(0)),
    )


def rate_amount(rule: RateRule, tokens: int) -> int:
    """What one request of `tokens` tokens counts on a limit: 1 request, or its tokens."""
    return 1 if rule.kind == "requests" else tokens


def rate_charge(rule: RateRule, amount: int) -> RateCharge:
    """The one constructor of a rate charge from a limit's rule."""
    return RateCharge(LimitId(rule.id), rule.kind, amount, rule.capacity, rule.window_s)


def _rate_charges(rules: tuple[RateRule, ...], tokens: int) -> list[tuple[RateRule, int]]:
    return [(r, rate_amount(r, tokens)) for r in rules]


def _route_refusal(
    route: Route, state: UsageState, cost: Decimal, tokens: int, now: datetime
) -> Refusal | None:
    for rule, amount in _rate_charges(route.rates, tokens):
        refusal = limit_refusal(rule, state, amount, now.timestamp())
        if refusal:
            return refusal
    for budget in route.budgets:
        refusal = budget_refusal(budget, state, cost, now)
        if refusal:
            return refusal
    return None


def key_refusal(policy: KeyPolicy, now: datetime) -> Refusal | None:
    """None if the key may be used at all now, else a 403 (disabled or expired)."""
    if not policy.is_active:
        return Refusal(403, "virtual_key_blocked", "virtual_key", "this virtual key is disabled")
    if policy.expires_at is not None and now.timestamp() >= policy.expires_at:
        expired = datetime.fromtimestamp(policy.expires_at, UTC).isoformat()
        return Refusal(
            403, "virtual_key_blocked", "virtual_key", f"this virtual key expired at {expired}"
        )
    return None


def admit(
    policy: KeyPolicy,
    state: UsageState,
    model: str,
    pinned_provider: str | None,
    tokens: int,
    cost_of: CostOf,
    now: datetime,
    rng: random.Random,
) -> Admission | Refusal:
    """Decide one request: every level must admit; reserve at all of them or none."""
    blocked = key_refusal(policy, now)
    if blocked is not None:
        return blocked
    routes = list(policy.routes)
    if pinned_provider is not None:
        routes = [r for r in routes if r.provider == pinned_provider]
        if not routes:
            return Refusal(
                403,
                "provider_blocked",
                "virtual_key",
                f"provider {pinned_provider!r} is not allowed for this key",
            )
    routes = [r for r in routes if r.allows(model)]
    if not routes:
        return Refusal(
            403, "model_blocked", "virtual_key", f"model {model!r} is not allowed for this key"
        )
    costs: dict[int, Decimal] = {}
    unpriced: PriceUnknownError | None = None
    for route in routes:  # a route that cannot price the model is skipped, as one that blocks it
        try:
            costs[id(route)] = cost_of(route)
        except PriceUnknownError as error:
            unpriced = unpriced or error
    if not costs:
        assert unpriced is not None  # noqa: S101 - routes is non-empty
        raise unpriced
    routes = [r for r in routes if id(r) in costs]
    eligible, first_refusal = [], None
    for route in routes:
        refusal = _route_refusal(route, state, costs[id(route)], tokens, now)
        if refusal is None:
            eligible.append(route)
        elif first_refusal is None:
            first_refusal = refusal
    if not eligible:
        assert first_refusal is not None  # noqa: S101 - routes is non-empty
        return first_refusal
    epoch = now.timestamp()
    for rule, amount in _rate_charges(policy.rates, tokens):
        refusal = limit_refusal(rule, state, amount, epoch)
        if refusal:
            return refusal
    if policy.routing == "adaptive":  # effective weights from route health (weights.py)
        adapted = ADAPTED.adapted(eligible, model, state.routes, epoch, policy.weights)
        costs.update({id(new): costs[id(old)] for old, new in zip(eligible, adapted, strict=True)})
        eligible = adapted
    chain = choose_chain(eligible, rng)
    bound = max(costs[id(r)] for r in chain)
    for budget in policy.budgets:
        refusal = budget_refusal(budget, state, bound, now)
        if refusal:
            return refusal
    reservations = [reservation(b, bound, now) for b in policy.budgets]
    for route in chain:
        reservations += [reservation(b, costs[id(route)], now) for b in route.budgets]
    rate = [rate_charge(rule, amount) for rule, amount in _rate_charges(policy.rates, tokens)]
    rate += [rate_charge(rule, amount) for rule, amount in _rate_charges(chain[0].rates, tokens)]
    return Admission(chain, tuple(reservations), tuple(rate), bound)


def reservation(rule: BudgetRule, amount: Decimal, now: datetime) -> Reservation:
    """The one constructor of a reservation: `amount` on the budget's period at `now`."""
    return Reservation(rule.id, PERIODS.period_of(rule.schedule, now).key, amount)
