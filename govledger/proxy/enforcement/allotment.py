"""Leased allotments of strict budgets across instances: pure decisions over one period's book.

Each strict budget period has one aggregate in the usage log (its book): grants to holders
(an instance's incarnation), returns and expiries. A holder admits only within what it was
granted, so the spend of all holders together never passes `opening + sum(held)`, and a
grant is made only while that stays within the limit. The store serialises the grants: each
is the book's next version, and two holders appending the same version cannot both win.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

ZERO = Decimal(0)
GRAIN = Decimal("1e-10")  # grants are sized in steps of this many USD
NAMESPACE = uuid.UUID("6f1d8a52-3c1b-4a7e-9a55-0c3f1e2d9b10")


def book_id(budget: str, period: str) -> uuid.UUID:
    """The stream id of one budget period's book (the same on every instance)."""
    return uuid.uuid5(NAMESPACE, f"allotment:{budget}@{period}")


@dataclass
class Book:
    """One budget period's allotments, folded from its events in version order."""

    budget: str
    period: str
    version: int = 0
    opening: Decimal = ZERO  # spent or reserved in the period before its first grant
    held: dict[str, Decimal] = field(default_factory=dict)  # holder -> granted, net of returns
    ended: set[str] = field(default_factory=set)  # holders whose lease was expired
    first: dict[str, int] = field(default_factory=dict)  # holder -> version of its first grant

    @property
    def in_use(self) -> Decimal:
        """What the limit can no longer grant: the opening and every holder's net grant."""
        return self.opening + sum(self.held.values(), ZERO)

    def free(self, limit: Decimal) -> Decimal:
        """What is left to grant under `limit` (never negative)."""
        return max(limit - self.in_use, ZERO)

    def granted(self, holder: str, amount: Decimal, opening: Decimal) -> None:
        """Fold a grant in (the first grant of the book sets its opening)."""
        if self.version == 0:
            self.opening = opening
        self.held[holder] = self.held.get(holder, ZERO) + amount
        self.version += 1
        self.first.setdefault(holder, self.version)

    def returned(self, holder: str, amount: Decimal, expired: bool) -> None:
        """Fold a return (or an expiry: the holder gets nothing more) in."""
        self.held[holder] = self.held.get(holder, ZERO) - amount
        if expired:
            self.ended.add(holder)
        self.version += 1


@dataclass(frozen=True)
class Sizing:
    """How grants are sized: seconds of spend to hold ahead, and when to ask again."""

    horizon_s: float = 2.0  # a grant covers about this long of the holder's recent spend
    low_water_s: float = 0.5  # ask ahead when what is unused covers less than this


def grant_amount(
    book: Book,
    limit: Decimal,
    holder: str,
    deficit: Decimal,
    demand: Decimal,
    spend_rate: Decimal,
    members: int,
    sizing: Sizing,
    opening: Decimal = ZERO,
    whole: bool = False,
) -> Decimal:
    """How much to grant `holder` now: at least its `deficit` (or nothing, if that does not
    fit), else what its queued `demand` or about `horizon_s` of its spend asks for, never more
    than a fair share of what is free among the `members` alive.

    Near the end of a budget the fair share is small, so little is stranded on one holder.
    `opening` is what the period had spent or reserved before a new book's first grant;
    `whole` grants whole units only (a rate limit's requests or tokens; `deficit` is whole).
    """
    free = book.free(limit) if book.version else max(limit - opening, ZERO)
    if holder in book.ended or free <= ZERO or deficit > free:
        return ZERO
    share = free / max(members, 1)
    wanted = max(demand, spend_rate * Decimal(str(sizing.horizon_s)))
    amount = min(free, max(deficit, min(wanted, share).quantize(GRAIN, ROUND_DOWN)))
    return amount.to_integral_value(ROUND_DOWN) if whole else amount


def ask_ahead(unused: Decimal, spend_rate: Decimal, sizing: Sizing) -> bool:
    """True when a holder spending at `spend_rate` should ask for more before it runs out."""
    return spend_rate > ZERO and unused < spend_rate * Decimal(str(sizing.low_water_s))


def unused(held: Decimal, spent: Decimal) -> Decimal:
    """What of a holder's grant its spend (reserved and settled) has not used."""
    return max(held - spent, ZERO)


def alive(seen_at: datetime, now: datetime, lease_s: float) -> bool:
    """A member is alive if it was seen within the lease time."""
    return (now - seen_at).total_seconds() <= lease_s


def expiries(book: Book, live: set[str], spent: Mapping[str, Decimal | None]) -> dict[str, Decimal]:
    """Holders of `book` not alive whose spend is known (`spent[holder]` is not None), each
    with what its expiry frees: its unused grant. A holder whose spend is unknown here (its
    first grant came before this process folded the log) is left to an instance that knows
    it: freeing a guess could overspend. One that spent all it held frees nothing."""
    due: dict[str, Decimal] = {}
    for holder, held in book.held.items():
        known = spent.get(holder)
        if holder in live or holder in book.ended or known is None:
            continue
        if unused(held, known) > ZERO:  # a holder that spent all it held frees nothing
            due[holder] = unused(held, known)
    return due


@dataclass
class SpendRate:
    """A holder's recent spend per second on one budget, smoothed (times are injected)."""

    half_life_s: float = 2.0
    rate: Decimal = ZERO
    last_spent: Decimal = ZERO
    last_at: float | None = None

    def observe(self, spent: Decimal, at: float) -> Decimal:
        """Fold the running total spent at time `at` in; returns the smoothed rate."""
        if self.last_at is None:
            self.last_at, self.last_spent = at, spent
            return self.rate
        if at <= self.last_at:
            return self.rate
        dt = at - self.last_at
        instant = max(spent - self.last_spent, ZERO) / Decimal(str(dt))
        weight = Decimal(str(1 - 0.5 ** (dt / self.half_life_s)))
        self.rate = self.rate + (instant - self.rate) * weight
        self.last_at, self.last_spent = at, spent
        return self.rate
