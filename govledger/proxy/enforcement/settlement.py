"""Settlement as pure decisions: the actual cost replaces a request's reservation.

`settle` turns an admitted request (its ticket), how the upstream part ended (its outcome),
the price book and the time into the `RequestSettled` event; `abandon` closes a request no
process will settle at its reservation. Neither reads a clock nor changes any state: the
same inputs give the same event, so a replay reproduces every charge.

What is charged: the key's, team's and customer's budgets and the budgets of the route that
served (never those of a route that was only tried), each at the actual cost. Rate limits:
token limits reserved the estimate and get `actual - estimate`; the primary route's token
limit gets its estimate back when another route served, and the serving route's own limits
are charged in full.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from govledger.ledger import events as ev
from govledger.ledger.charges import BudgetId, Charge, RateCharge, stored
from govledger.projections.policy import KeyPolicy, Route
from govledger.projections.usage_state import Inflight
from govledger.proxy.enforcement.admission import Admission, rate_amount, rate_charge
from govledger.proxy.enforcement.cost import PriceBook, PriceUnknownError, TokenUsage, tokens_dict

ZERO = Decimal(0)
NO_USAGE = "none"  # the price source of a request no route served
BOUND_CHARGED = ":usage-missing-charged-bound"  # suffix: no usage reported, the bound charged


@dataclass(frozen=True)
class Origin:
    """The process that writes an event: its instance name and this start's incarnation."""

    instance: str
    incarnation: str


@dataclass(frozen=True)
class Instant:
    """One reading of the clock: wall time for the event, monotonic for its latency."""

    wall: datetime
    monotonic: float


@dataclass(frozen=True)
class Ticket:
    """An admitted request as settlement sees it: what it reserved, from what estimate."""

    request_id: str
    model: str  # as the client named it
    policy: KeyPolicy
    admission: Admission
    estimate: TokenUsage
    admitted_at: datetime  # also the time its prices are read at
    started: float  # the monotonic clock at admission
    origin: Origin


@dataclass(frozen=True)
class Outcome:
    """How the upstream part ended, to be settled."""

    status: str  # ok | upstream_error | client_disconnected | failed
    reason: str
    route: Route | None  # the route that served, if any did
    provider_key_id: str | None
    model: str  # the model the upstream named (or the one asked)
    usage: TokenUsage | None  # None: the upstream reported none
    attempts: list[dict[str, Any]]  # {provider, key_id, status, error, ms} per try


@dataclass(frozen=True)
class ActualCost:
    """What a request cost, the price's source and the usage it was computed from."""

    amount: Decimal
    price_source: str
    usage: TokenUsage


def actual_cost(ticket: Ticket, outcome: Outcome, prices: PriceBook) -> ActualCost:
    """The actual cost at the request's time; with no usage reported on an answer (or a cut
    one), the reservation's bound is charged; nothing when no route served."""
    route = outcome.route
    if route is None:
        return ActualCost(ZERO, NO_USAGE, TokenUsage())
    at = ticket.admitted_at
    usage = outcome.usage
    if usage is None:
        if outcome.status not in ("ok", "client_disconnected"):
            return ActualCost(ZERO, NO_USAGE, TokenUsage())
        bound = ticket.estimate
        price = prices.price(route.provider_type, outcome.model, at)
        amount = prices.reservation_cost(route.provider_type, outcome.model, bound, at)
        return ActualCost(amount, price.source + BOUND_CHARGED, bound)
    try:
        price = prices.price(route.provider_type, outcome.model, at)
        return ActualCost(
            prices.cost(route.provider_type, outcome.model, usage, at), price.source, usage
        )
    except PriceUnknownError:  # the upstream answered with another model name
        asked = route.upstream_model(ticket.model)
        price = prices.price(route.provider_type, asked, at)
        return ActualCost(prices.cost(route.provider_type, asked, usage, at), price.source, usage)


def charged_budgets(policy: KeyPolicy, served: Route | None) -> frozenset[BudgetId]:
    """The budgets a request is charged to: its key's, team's and customer's, and those of
    the route that served; none if no route served."""
    if served is None:
        return frozenset()
    return frozenset(b.id for b in policy.budgets) | {b.id for b in served.budgets}


def charges(ticket: Ticket, served: Route | None, cost: Decimal) -> tuple[Charge, ...]:
    """`cost` on every reserved budget period the request is charged to."""
    keep = charged_budgets(ticket.policy, served)
    return tuple(Charge.of(r, cost) for r in ticket.admission.reservations if r.budget in keep)


def rate_adjustments(
    ticket: Ticket, served: Route | None, usage: TokenUsage
) -> tuple[RateCharge, ...]:
    """What settlement adds to each rate limit (negative gives back): token limits trade the
    estimate for the actual tokens of the route that served; a failover route's own limits
    are charged in full (admission charged only the primary's)."""
    actual = usage.input + usage.output
    estimated = ticket.estimate.input + ticket.estimate.output
    primary = ticket.admission.chain[0]
    primary_limits = {rule.id for rule in primary.rates}
    adjustments: list[RateCharge] = []
    for held in ticket.admission.rate:
        if held.kind != "tokens":
            continue
        served_here = served is primary or held.limit not in primary_limits
        delta = (actual if served_here else 0) - estimated
        if delta:
            adjustments.append(held.with_amount(delta))
    if served is not None and served is not primary:
        adjustments += [rate_charge(rule, rate_amount(rule, actual)) for rule in served.rates]
    return tuple(adjustments)


def settle(ticket: Ticket, outcome: Outcome, prices: PriceBook, now: Instant) -> ev.RequestSettled:
    """The `RequestSettled` event of an admitted request that ended with `outcome`."""
    served = outcome.route
    cost = actual_cost(ticket, outcome, prices)
    return ev.RequestSettled(
        originator_id=uuid.UUID(ticket.request_id),
        originator_version=2,
        timestamp=now.wall,
        request_id=ticket.request_id,
        instance=ticket.origin.instance,
        incarnation=ticket.origin.incarnation,
        status=outcome.status,
        reason=outcome.reason,
        provider=served.provider if served else None,
        provider_key_id=outcome.provider_key_id,
        model=outcome.model,
        tokens=tokens_dict(cost.usage),
        cost=cost.amount,
        price_source=cost.price_source,
        charges=stored(charges(ticket, served, cost.amount)),
        rate=stored(rate_adjustments(ticket, served, cost.usage)),
        attempts=outcome.attempts,
        latency_ms=round((now.monotonic - ticket.started) * 1000, 3),
    )


def abandon(
    request_id: str, held: Inflight, reason: str, origin: Origin, now: datetime
) -> ev.RequestAbandoned:
    """Close a request no process will settle: charged at what it reserved."""
    return ev.RequestAbandoned(
        originator_id=uuid.UUID(request_id),
        originator_version=2,
        timestamp=now,
        request_id=request_id,
        instance=origin.instance,
        incarnation=origin.incarnation,
        reason=reason,
        charges=stored([Charge.of(r, r.amount) for r in held.reservations]),
    )
