"""Allotted rate-limit capacity as pure decisions: N holders never admit more than the limit
in one window, a grant that fits is made, Retry-After never asks a client back too early."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from govledger.ledger.charges import LimitId
from govledger.projections.policy import RateRule
from govledger.proxy.enforcement.allotment import Book, Sizing
from govledger.proxy.enforcement.rate_allotment import (
    RateHold,
    allotted_rate_refusal,
    rate_book_id,
    rate_grant,
    window_of,
)

HOLDERS = ("a/1", "b/1", "c/1")
SIZING = Sizing()


def rule(kind: str, capacity: int, window_s: float) -> RateRule:
    """A key-level rate limit."""
    return RateRule(LimitId("k1:rate"), "virtual_key", kind, capacity, window_s)


@dataclass
class Cluster:
    """N holders of one limit: the window books they share, each one's GCRA state and use."""

    limit: RateRule
    books: dict[str, Book] = field(default_factory=dict)
    tats: dict[str, dict[str, float]] = field(default_factory=dict)
    used: dict[tuple[str, str], int] = field(default_factory=dict)

    def admit(self, holder: str, amount: int, now: float) -> tuple[bool, int | None]:
        """One request on one holder: decide, ask the window's book for more if short,
        decide again; returns (admitted, retry_after)."""
        limit, window = self.limit, window_of(self.limit, now)
        book = self.books.setdefault(window.key, Book(limit.id, window.key))
        own = self.tats.setdefault(holder, {})
        for _ in range(2):
            used = self.used.get((window.key, holder), 0)
            hold = RateHold(int(book.held.get(holder, Decimal(0))), used)
            refusal, short = allotted_rate_refusal(limit, own, hold, amount, now)
            if refusal is None:
                tat = max(own.get(limit.id, now), now)
                own[limit.id] = tat + amount * limit.window_s / limit.capacity
                self.used[(window.key, holder)] = used + amount
                return True, None
            if short is None:
                return False, refusal.retry_after
            granted = rate_grant(
                book, limit.capacity, holder, short.deficit, short.deficit, Decimal(0), 3, SIZING
            )
            if granted <= 0:
                assert book.free(Decimal(limit.capacity)) < short.deficit
                return False, refusal.retry_after
            assert granted >= short.deficit
            book.granted(holder, Decimal(granted), Decimal(0))
        raise AssertionError("a grant that covers the deficit must admit")


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(("requests", "tokens")),
    capacity=st.integers(min_value=1, max_value=40),
    window_s=st.sampled_from((1.0, 2.5, 60.0)),
    steps=st.lists(
        st.tuples(
            st.sampled_from(HOLDERS),
            st.integers(min_value=1, max_value=12),
            st.floats(min_value=0, max_value=0.5),
        ),
        max_size=120,
    ),
)
def test_holders_never_admit_more_than_the_limit_per_window(
    kind: str, capacity: int, window_s: float, steps: list[tuple[str, int, float]]
) -> None:
    """Whatever the interleaving, the admitted amount per window is at most the capacity,
    and every grant is a whole number within it."""
    limit = rule(kind, capacity, window_s)
    cluster = Cluster(limit)
    admitted: dict[str, int] = {}
    now = 1_000_000.0
    for holder, size, dt in steps:
        now += dt
        amount = 1 if kind == "requests" else size
        ok, retry_after = cluster.admit(holder, amount, now)
        if ok:
            key = window_of(limit, now).key
            admitted[key] = admitted.get(key, 0) + amount
        else:
            assert retry_after is not None and retry_after >= 1
    for key, total in admitted.items():
        assert total <= capacity, (key, total)
    for book in cluster.books.values():
        assert book.in_use <= capacity
        assert all(held == int(held) for held in book.held.values())


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(min_value=1, max_value=20),
    window_s=st.sampled_from((1.0, 2.5, 60.0)),
    offset=st.floats(min_value=0, max_value=0.999),
)
def test_retry_after_reaches_a_window_with_capacity(
    capacity: int, window_s: float, offset: float
) -> None:
    """Once the window's capacity is granted elsewhere, Retry-After points at or past the
    next window, where the book is empty again."""
    limit = rule("requests", capacity, window_s)
    now = 1_000_000.0 * window_s + offset * window_s
    cluster = Cluster(limit)
    window = window_of(limit, now)
    book = cluster.books.setdefault(window.key, Book(limit.id, window.key))
    book.granted("b/1", Decimal(capacity), Decimal(0))  # another instance holds it all
    ok, retry_after = cluster.admit("a/1", 1, now)
    assert not ok and retry_after is not None
    later = window_of(limit, now + retry_after)
    assert later.key != window.key
    assert math.ceil(window.end - now) <= retry_after


def test_one_holder_admits_the_whole_limit_then_refuses() -> None:
    """A lone instance admits exactly the capacity in a burst (GCRA's), then a 429."""
    limit = rule("requests", 5, 60.0)
    cluster = Cluster(limit)
    results = [cluster.admit("a/1", 1, 600.0)[0] for _ in range(6)]
    assert results == [True] * 5 + [False]


def test_book_ids_differ_by_window_and_limit() -> None:
    """Each window of each limit is its own stream, the same on every instance."""
    limit = rule("requests", 5, 60.0)
    first, second = window_of(limit, 0.0), window_of(limit, 60.0)
    assert rate_book_id(limit, first) != rate_book_id(limit, second)
    assert rate_book_id(limit, first) == rate_book_id(limit, window_of(limit, 59.9))
    other = RateRule(LimitId("k2:rate"), "virtual_key", "tokens", 5, 60.0)
    assert rate_book_id(limit, first) != rate_book_id(other, first)
