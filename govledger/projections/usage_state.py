"""The enforcement side of usage: per budget the current period's settled and reserved
amounts, per rate limit its GCRA state, and the requests still in flight.

A pure fold: `apply` reads only the prior state and the event (its own timestamp
included), so replaying the log reproduces the state exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from govledger.ledger import events as ev
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

    reservations: list[dict[str, Any]]
    rate: list[dict[str, Any]]
    instance: str
    incarnation: str
    admitted_at: float


@dataclass
class UsageState:
    """Everything admission needs to know about usage, folded from usage events."""

    budgets: dict[str, BudgetUsage] = field(default_factory=dict)
    tats: dict[str, float] = field(default_factory=dict)
    inflight: dict[str, Inflight] = field(default_factory=dict)
    routes: RouteHealthFold = field(default_factory=RouteHealthFold)  # adaptive routing

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
            self._close(event.request_id, event.charges, getattr(event, "rate", []), event)
            self.routes.apply(event)

    def _current(self, budget: str, period: str) -> BudgetUsage | None:
        held = self.budgets.get(budget)
        if held is None or period > held.period:
            held = self.budgets[budget] = BudgetUsage(period)
        return held if held.period == period else None

    def _admit(self, event: ev.RequestAdmitted) -> None:
        for item in event.reservations:
            usage = self._current(item["budget"], item["period"])
            if usage is not None:
                usage.reserved += item["amount"]
        now = event.timestamp.timestamp()
        for item in event.rate:
            self.charge_rate(item, now, clamp=True)
        self.inflight[event.request_id] = Inflight(
            event.reservations, event.rate, event.instance, event.incarnation, now
        )

    def _close(
        self,
        request_id: str,
        charges: list[dict[str, Any]],
        rate: list[dict[str, Any]],
        event: ev.LedgerEvent,
    ) -> None:
        held = self.inflight.pop(request_id, None)
        if held is not None:
            for item in held.reservations:
                self._release(item)
        for item in charges:
            usage = self._current(item["budget"], item["period"])
            if usage is not None:
                usage.settled += item["amount"]
        now = event.timestamp.timestamp()
        for item in rate:
            self.charge_rate(item, now, clamp=False)

    def _release(self, item: dict[str, Any]) -> None:
        usage = self.budgets.get(item["budget"])
        if usage is not None and usage.period == item["period"]:
            usage.reserved -= item["amount"]

    def charge_rate(self, item: dict[str, Any], now: float, clamp: bool) -> None:
        """GCRA: push the limit's theoretical arrival time by amount x emission interval."""
        interval = item["window_s"] / item["capacity"]
        tat = self.tats.get(item["limit"], now)
        if clamp:
            tat = max(tat, now)
        self.tats[item["limit"]] = tat + item["amount"] * interval

    def forget(self, request_id: str) -> None:
        """Undo the in-memory admission of a request whose event never reached the ledger."""
        held = self.inflight.pop(request_id, None)
        if held is None:
            return
        for item in held.reservations:
            self._release(item)
        for item in held.rate:
            interval = item["window_s"] / item["capacity"]
            if item["limit"] in self.tats:
                self.tats[item["limit"]] -= item["amount"] * interval
