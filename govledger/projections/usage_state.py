"""The enforcement side of usage: per budget the current period's settled and reserved
amounts, per rate limit its GCRA state, and the requests still in flight.

A pure fold: `apply` reads only the prior state and the event (its own timestamp
included), so replaying the log reproduces the state exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from govledger.ledger import events as ev
from govledger.ledger.charges import (
    Charge,
    RateCharge,
    Reservation,
    charges_of,
    rate_charges_of,
    reservations_of,
)
from govledger.projections.rate_grants import RateGrants, rate_key
from govledger.projections.route_health import RouteHealthFold

ZERO = Decimal(0)


@dataclass
class BudgetUsage:
    """One budget's usage in its current period (`period` is the period start, ISO UTC)."""

    period: str
    settled: Decimal = ZERO
    reserved: Decimal = ZERO


@dataclass
class Inflight:
    """A request admitted and not yet settled, with what it holds."""

    reservations: tuple[Reservation, ...]
    rate: tuple[RateCharge, ...]
    instance: str
    incarnation: str
    admitted_at: float


@dataclass
class UsageState:
    """Everything admission needs to know about usage, folded from usage events."""

    budgets: dict[str, BudgetUsage] = field(default_factory=dict)
    tats: dict[str, float] = field(default_factory=dict)
    inflight: dict[str, Inflight] = field(default_factory=dict)
    # Adaptive routing's health: a live fold of recent attempts, warmed from the request log,
    # not part of the enforcement state the views restore (so not compared).
    routes: RouteHealthFold = field(default_factory=RouteHealthFold, compare=False)
    # Leased allotments (several instances on one store; see proxy/enforcement/allotment.py).
    # `holder` is this process (`instance/incarnation`) when they are on, else None.
    holder: str | None = field(default=None, compare=False)
    allotted: dict[tuple[str, str], Decimal] = field(default_factory=dict, compare=False)
    lease_until: float = field(default=math.inf, compare=False)  # own grants usable until
    # (budget, period, holder) -> that holder's reserved + settled, for requests folded here
    spend_by: dict[tuple[str, str, str], Decimal] = field(default_factory=dict, compare=False)
    # (budget, period, holder) -> the version of the first grant to it that was folded here
    first_grant: dict[tuple[str, str, str], int] = field(default_factory=dict, compare=False)
    # Rate limits' shared books: (book, period) -> this holder's grants of it, and the time
    # its book would next grant what was last asked (for an honest Retry-After).
    rate_grants: dict[tuple[str, str], RateGrants] = field(default_factory=dict, compare=False)
    rate_ready: dict[tuple[str, str], float] = field(default_factory=dict, compare=False)

    def usage(self, budget: str, period: str) -> BudgetUsage:
        """Usage of a budget in a period; a newer period than the one held starts at zero."""
        held = self.budgets.get(budget)
        if held is None or held.period != period:
            return BudgetUsage(period)
        return held

    def apply(self, event: ev.LedgerEvent) -> None:
        """Fold one usage event in."""
        if isinstance(event, ev.RequestAdmitted):
            self._admit(event)
        elif isinstance(event, ev.RequestSettled | ev.RequestAbandoned):
            rate = event.rate if isinstance(event, ev.RequestSettled) else []
            self._close(event.request_id, charges_of(event.charges), rate_charges_of(rate), event)
            self.routes.apply(event)
        elif isinstance(event, ev.AllotmentGranted) and self.holder is not None:
            key = (event.budget, event.period, event.holder)
            self.first_grant.setdefault(key, event.originator_version)

    def own_allotment(self, budget: str, period: str, now: float) -> tuple[Decimal, Decimal]:
        """This holder's live grant and its spend on one budget period."""
        assert self.holder is not None  # noqa: S101 - only asked when allotments are on
        held = self.allotted.get((budget, period), ZERO) if now <= self.lease_until else ZERO
        return held, self.spend_by.get((budget, period, self.holder), ZERO)

    def allot(self, budget: str, period: str, amount: Decimal) -> None:
        """This holder was granted `amount` more (negative: gave it back)."""
        key = (budget, period)
        self.allotted[key] = self.allotted.get(key, ZERO) + amount

    def own_rate(self, charge: RateCharge) -> RateGrants | None:
        """This holder's grants of a rate charge's book (None if it holds none)."""
        return self.rate_grants.get(rate_key(charge.limit, charge.capacity, charge.window_s))

    def _own(self, instance: str, incarnation: str) -> bool:
        return self.holder is not None and self.holder == f"{instance}/{incarnation}"

    def _spend(self, budget: str, period: str, holder: str, amount: Decimal) -> None:
        key = (budget, period, holder)
        self.spend_by[key] = self.spend_by.get(key, ZERO) + amount

    def _current(self, budget: str, period: str) -> BudgetUsage | None:
        held = self.budgets.get(budget)
        if held is None or period > held.period:
            held = self.budgets[budget] = BudgetUsage(period)
        return held if held.period == period else None

    def _admit(self, event: ev.RequestAdmitted) -> None:
        reservations = reservations_of(event.reservations)
        rate = rate_charges_of(event.rate)
        for item in reservations:
            usage = self._current(item.budget, item.period)
            if usage is not None:
                usage.reserved += item.amount
        now = event.timestamp.timestamp()
        for charge in rate:
            self.charge_rate(charge, now, clamp=True)
        self.inflight[event.request_id] = Inflight(
            reservations, rate, event.instance, event.incarnation, now
        )
        if self.holder is not None:
            holder = f"{event.instance}/{event.incarnation}"
            for item in reservations:
                self._spend(item.budget, item.period, holder, item.amount)
        if self._own(event.instance, event.incarnation):
            for charge in rate:  # the units it admits are taken from its grants
                grants = self.own_rate(charge)
                if grants is not None:
                    grants.take(event.request_id, charge.amount, now)

    def _close(
        self,
        request_id: str,
        charges: Iterable[Charge],
        rate: Iterable[RateCharge],
        event: ev.LedgerEvent,
    ) -> None:
        held = self.inflight.pop(request_id, None)
        if held is not None:
            for item in held.reservations:
                self._release(item)
        for charge in charges:
            usage = self._current(charge.budget, charge.period)
            if usage is not None:
                usage.settled += charge.amount
        if self.holder is not None and held is not None:
            holder = f"{held.instance}/{held.incarnation}"
            for item in held.reservations:
                self._spend(item.budget, item.period, holder, -item.amount)
            for charge in charges:
                self._spend(charge.budget, charge.period, holder, charge.amount)
        now = event.timestamp.timestamp()
        for adjustment in rate:
            self.charge_rate(adjustment, now, clamp=False)
        if held is not None and self._own(held.instance, held.incarnation):
            for change in rate:
                grants = self.own_rate(change)
                if grants is not None and change.amount < 0:  # fewer tokens than estimated
                    grants.refund(request_id, -change.amount)
            for taken in held.rate:
                grants = self.own_rate(taken)
                if grants is not None:
                    grants.settled(request_id)

    def _release(self, item: Reservation) -> None:
        usage = self.budgets.get(item.budget)
        if usage is not None and usage.period == item.period:
            usage.reserved -= item.amount

    def charge_rate(self, charge: RateCharge, now: float, clamp: bool) -> None:
        """GCRA: push the limit's theoretical arrival time by amount x emission interval."""
        tat = self.tats.get(charge.limit, now)
        if clamp:
            tat = max(tat, now)
        self.tats[charge.limit] = tat + charge.amount * charge.interval

    def forget(self, request_id: str) -> None:
        """Undo the in-memory admission of a request whose event never reached the ledger."""
        held = self.inflight.pop(request_id, None)
        if held is None:
            return
        for item in held.reservations:
            self._release(item)
            if self.holder is not None:
                self._spend(item.budget, item.period, self.holder, -item.amount)
        for charge in held.rate:
            if charge.limit in self.tats:
                self.tats[charge.limit] -= charge.amount * charge.interval
            grants = self.own_rate(charge)
            if grants is not None:  # never admitted: what it took is back in its grants
                grants.refund(request_id, charge.amount)
                grants.settled(request_id)
