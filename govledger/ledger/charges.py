"""What a request holds and is charged, typed: budget ids, reservations, charges, rate charges.

Events store these as lists of plain dicts (their JSON shape since release 0.1, so old stores
load); this module is the one place that converts between the two.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NewType

BudgetId = NewType("BudgetId", str)  # `{scope}#{reset_duration}`, e.g. `team:platform#1M`
LimitId = NewType("LimitId", str)  # `{scope}#{kind}`, e.g. `virtual_key:k1#tokens`


def owner_scope(level: str, owner: str) -> str:
    """The scope of an owner's budgets and limits: `virtual_key:k1`, `team:t`, `customer:c`."""
    return f"{level}:{owner}"


def route_scope(key_id: str, provider: str) -> str:
    """The scope of a key's route to a provider: `virtual_key:k1/provider:openai`."""
    return f"{owner_scope('virtual_key', key_id)}/provider:{provider}"


def budget_id(scope: str, reset_duration: str) -> BudgetId:
    """The one constructor of a budget id: its owner's scope and its reset duration."""
    return BudgetId(f"{scope}#{reset_duration}")


def limit_id(scope: str, kind: str) -> LimitId:
    """The one constructor of a rate limit id: its owner's scope and `requests` or `tokens`."""
    return LimitId(f"{scope}#{kind}")


@dataclass(frozen=True, slots=True)
class Reservation:
    """An upper bound in USD held on one budget period while a request is open."""

    budget: BudgetId
    period: str  # the period's start, ISO UTC
    amount: Decimal

    def to_json(self) -> dict[str, Any]:
        """The event's shape: `{budget, period, amount}`."""
        return {"budget": self.budget, "period": self.period, "amount": self.amount}

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> Reservation:
        """From the event's shape (an amount stored as text is read exactly)."""
        return cls(item["budget"], item["period"], _exact(item["amount"]))


@dataclass(frozen=True, slots=True)
class Charge:
    """Actual USD charged to one budget period when a request closes."""

    budget: BudgetId
    period: str
    amount: Decimal

    def to_json(self) -> dict[str, Any]:
        """The event's shape: `{budget, period, amount}`."""
        return {"budget": self.budget, "period": self.period, "amount": self.amount}

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> Charge:
        """From the event's shape (an amount stored as text is read exactly)."""
        return cls(item["budget"], item["period"], _exact(item["amount"]))

    @classmethod
    def of(cls, reservation: Reservation, amount: Decimal) -> Charge:
        """`amount` charged to the budget period a reservation held."""
        return cls(reservation.budget, reservation.period, amount)


@dataclass(frozen=True, slots=True)
class RateCharge:
    """An amount (requests or tokens, negative to give back) on one GCRA rate limit."""

    limit: LimitId
    kind: str  # requests | tokens
    amount: int
    capacity: int
    window_s: float

    @property
    def interval(self) -> float:
        """Seconds one unit pushes the limit's theoretical arrival time."""
        return self.window_s / self.capacity

    def with_amount(self, amount: int) -> RateCharge:
        """The same limit charged another amount."""
        return RateCharge(self.limit, self.kind, amount, self.capacity, self.window_s)

    def to_json(self) -> dict[str, Any]:
        """The event's shape: `{limit, kind, amount, capacity, window_s}`."""
        return {
            "limit": self.limit,
            "kind": self.kind,
            "amount": self.amount,
            "capacity": self.capacity,
            "window_s": self.window_s,
        }

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> RateCharge:
        """From the event's shape."""
        return cls(item["limit"], item["kind"], item["amount"], item["capacity"], item["window_s"])


RATE_BOOK = "rate:"  # the prefix of a rate limit's allotment book key (budget books have none)


@dataclass(frozen=True, slots=True)
class RateWindow:
    """One fixed window of a rate limit across instances: its book key, period and end."""

    book: str
    period: str
    end: float


def rate_window(limit: str, window_s: float, now: float) -> RateWindow:
    """The fixed window of `limit` that `now` falls in (the same on every instance)."""
    index = math.floor(now / window_s)
    return RateWindow(f"{RATE_BOOK}{limit}", f"w{index}", (index + 1) * window_s)


def reservations_of(items: Iterable[Mapping[str, Any]]) -> tuple[Reservation, ...]:
    """Typed reservations of an event's `reservations` list."""
    return tuple([Reservation.from_json(i) for i in items])


def charges_of(items: Iterable[Mapping[str, Any]]) -> tuple[Charge, ...]:
    """Typed charges of an event's `charges` list."""
    return tuple([Charge.from_json(i) for i in items])


def rate_charges_of(items: Iterable[Mapping[str, Any]]) -> tuple[RateCharge, ...]:
    """Typed rate charges of an event's `rate` list."""
    return tuple([RateCharge.from_json(i) for i in items])


def stored(items: Sequence[Reservation | Charge | RateCharge]) -> list[dict[str, Any]]:
    """The list of dicts an event stores."""
    return [i.to_json() for i in items]


def _exact(amount: Any) -> Decimal:
    """An amount as stored (Decimal, or its text or number read back from JSON), exactly."""
    return amount if isinstance(amount, Decimal) else Decimal(str(amount))
