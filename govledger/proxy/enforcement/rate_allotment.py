"""Allotted rate-limit capacity across instances: pure decisions over one window's book.

A rate limit of `capacity` per `window_s` has one book per fixed window (`floor(now /
window_s)`), folded like a budget period's (`allotment.Book`): grants of whole requests or
tokens to holders, serialised by the store's optimistic concurrency. A holder admits a
request only if its own GCRA state admits it (the same semantics as one instance today) and
its grant for the current window covers it, so N holders together never admit more than
`capacity` in one window. Retry-After is the later of the GCRA wait and, when the window's
book has nothing free, the time until the next window.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from govledger.projections.policy import RateRule
from govledger.proxy.enforcement.admission import Refusal, rate_refusal
from govledger.proxy.enforcement.allotment import Book, Sizing, book_id, grant_amount


@dataclass(frozen=True)
class Window:
    """One fixed window of a rate limit: its book's period key and when it ends."""

    key: str
    end: float


def window_of(rule: RateRule, now: float) -> Window:
    """The fixed window of `rule` that `now` falls in (the same on every instance)."""
    index = math.floor(now / rule.window_s)
    return Window(f"w{index}", (index + 1) * rule.window_s)


def rate_book_id(rule: RateRule, window: Window) -> uuid.UUID:
    """The stream id of one rate limit window's book."""
    return book_id(f"rate:{rule.id}", window.key)


@dataclass(frozen=True)
class RateHold:
    """What this holder was granted and has admitted in the current window of one limit."""

    held: int
    used: int


@dataclass(frozen=True)
class RateShortfall:
    """What this holder's grant in the current window lacks to admit a request."""

    limit: str
    window: str
    capacity: int
    deficit: int


def rate_grant(
    book: Book,
    capacity: int,
    holder: str,
    deficit: int,
    demand: int,
    rate: Decimal,
    members: int,
    sizing: Sizing,
) -> int:
    """How many requests or tokens to grant `holder` in this window: at least `deficit` (or
    none if that does not fit), whole units, never more than the window's capacity left."""
    amount = grant_amount(
        book, Decimal(capacity), holder, Decimal(deficit), Decimal(demand), rate, members, sizing
    )
    return int(amount.to_integral_value(ROUND_DOWN))


def allotted_rate_refusal(
    rule: RateRule,
    tats: dict[str, float],
    hold: RateHold,
    amount: int,
    now: float,
) -> tuple[Refusal | None, RateShortfall | None]:
    """None if the limit admits `amount` on this holder now; else a 429 with an honest
    Retry-After and, when only the grant is short, what to ask for before refusing."""
    refusal = rate_refusal(rule, tats, amount, now)
    if refusal is not None or hold.used + amount <= hold.held:
        return refusal, None
    window = window_of(rule, now)
    return window_refusal(rule, window, now), RateShortfall(
        rule.id, window.key, rule.capacity, hold.used + amount - hold.held
    )


def window_refusal(rule: RateRule, window: Window, now: float) -> Refusal:
    """The 429 when the window's capacity is admitted or granted across instances: retry
    when the next window opens."""
    code = "request_limited" if rule.kind == "requests" else "token_limited"
    wait = max(math.ceil(window.end - now), 1)
    return Refusal(
        429,
        code,
        rule.level,
        f"rate limit of {rule.capacity} {rule.kind} per {rule.window_s:g}s reached at "
        f"{rule.level} across instances; retry in {wait}s",
        retry_after=wait,
    )
