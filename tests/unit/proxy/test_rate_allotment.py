"""Rate limits across instances as pure decisions: each instance admits within its GCRA and
its grant of the limit's current fixed window, so N instances never admit more than the
limit in one window; a grant that fits is made; Retry-After never asks a client back early."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from govledger.ledger import events as ev
from govledger.ledger.charges import LimitId, rate_window, stored
from govledger.projections.policy import RateRule
from govledger.projections.usage_state import UsageState
from govledger.proxy.enforcement.admission import limit_refusal, rate_charge
from govledger.proxy.enforcement.allotment import Book, Sizing, book_id, grant_amount

HOLDERS = ("a/1", "b/1", "c/1")
SIZING = Sizing()


def rule(kind: str, capacity: int, window_s: float, name: str = "k1") -> RateRule:
    """A key-level rate limit."""
    return RateRule(LimitId(f"virtual_key:{name}#{kind}"), "virtual_key", kind, capacity, window_s)


@dataclass
class Cluster:
    """N instances of one limit: the window books they share (serialised, as the store does)
    and each instance's usage state (its own admissions folded in; no tail)."""

    limit: RateRule
    books: dict[str, Book] = field(default_factory=dict)
    states: dict[str, UsageState] = field(default_factory=dict)
    admitted: dict[str, int] = field(default_factory=dict)  # window -> admitted in it
    number: int = 0

    def state(self, holder: str) -> UsageState:
        """The usage state of one instance (allotments on)."""
        return self.states.setdefault(holder, UsageState(holder=holder))

    def request(self, holder: str, amount: int, now: float) -> int | None:
        """One request on one instance: decide; while only its grant is short, ask the
        window's book and decide again. None if admitted, else its Retry-After."""
        state, limit = self.state(holder), self.limit
        for _ in range(2):
            refusal = limit_refusal(limit, state, amount, now)
            if refusal is None:
                self._admitted(holder, amount, now)
                return None
            assert refusal.status == 429 and refusal.retry_after is not None
            short = refusal.shortfall
            if short is None:
                return refusal.retry_after
            book = self.books.setdefault(short.period, Book(short.budget, short.period))
            granted = grant_amount(
                book, short.limit, holder, short.deficit, short.deficit, Decimal(0), 3, SIZING,
                whole=True,
            )  # fmt: skip
            if granted <= 0:
                assert book.free(short.limit) < short.deficit
                return refusal.retry_after
            assert granted >= short.deficit and granted == int(granted)
            book.granted(holder, granted, Decimal(0))
            state.allot(short.budget, short.period, granted)
        raise AssertionError("a grant that covers the deficit must admit")

    def _admitted(self, holder: str, amount: int, now: float) -> None:
        self.number += 1
        instance, incarnation = holder.split("/")
        event = ev.RequestAdmitted(
            originator_id=UUID(int=self.number),
            originator_version=1,
            timestamp=datetime.fromtimestamp(now, UTC),
            request_id=str(UUID(int=self.number)),
            instance=instance,
            incarnation=incarnation,
            key_id="k1",
            team_id=None,
            customer_id=None,
            surface="openai",
            model="gpt-4o",
            provider=None,
            reservations=[],
            rate=stored([rate_charge(self.limit, amount)]),
            estimate={},
            headers={},
        )
        self.state(holder).apply(event)
        window = rate_window(self.limit.id, self.limit.window_s, now).period
        self.admitted[window] = self.admitted.get(window, 0) + amount


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
def test_instances_never_admit_more_than_the_limit_per_window(
    kind: str, capacity: int, window_s: float, steps: list[tuple[str, int, float]]
) -> None:
    """Whatever the interleaving of three instances, the admitted amount per window is at
    most the capacity, every grant is whole, and a refusal asks back after at least 1 s."""
    cluster = Cluster(rule(kind, capacity, window_s))
    now = 1_000_000.0
    for holder, size, dt in steps:
        now += dt
        retry_after = cluster.request(holder, 1 if kind == "requests" else size, now)
        assert retry_after is None or retry_after >= 1
    assert all(total <= capacity for total in cluster.admitted.values()), cluster.admitted
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
    """Once the window's capacity is granted to another instance, Retry-After points at the
    next window (whose book starts empty), never earlier."""
    limit = rule("requests", capacity, window_s)
    cluster = Cluster(limit)
    now = 1_000_000.0 * window_s + offset * window_s
    window = rate_window(limit.id, limit.window_s, now)
    book = cluster.books.setdefault(window.period, Book(window.book, window.period))
    book.granted("b/1", Decimal(capacity), Decimal(0))  # another instance holds it all
    retry_after = cluster.request("a/1", 1, now)
    assert retry_after is not None and retry_after >= math.ceil(window.end - now)
    assert rate_window(limit.id, limit.window_s, now + retry_after).period != window.period


def test_one_instance_admits_the_whole_limit_then_refuses() -> None:
    """A lone instance admits exactly the capacity in a burst, as GCRA does, then a 429."""
    cluster = Cluster(rule("requests", 5, 60.0))
    assert [cluster.request("a/1", 1, 600.0) is None for _ in range(6)] == [True] * 5 + [False]


def test_retry_after_waits_for_the_window_when_gcra_alone_would_say_sooner() -> None:
    """With the window's capacity admitted, GCRA's wait (one emission interval) would be
    too early: Retry-After is the time until the next window instead."""
    cluster = Cluster(rule("requests", 5, 60.0))
    for _ in range(5):
        assert cluster.request("a/1", 1, 600.0) is None
    assert cluster.request("a/1", 1, 610.0) == 50  # GCRA alone: 2 s; the window ends at 660


def test_gcra_still_refuses_first_without_asking_for_a_grant() -> None:
    """A request GCRA refuses carries no shortfall: no grant is asked for."""
    limit = rule("tokens", 10, 60.0)
    refusal = limit_refusal(limit, UsageState(holder="a/1"), 11, 600.0)
    assert refusal is not None and refusal.shortfall is None and refusal.retry_after == 60


def test_book_ids_differ_by_window_and_limit() -> None:
    """Each window of each limit is its own stream, the same on every instance."""
    limit, other = rule("requests", 5, 60.0), rule("requests", 5, 60.0, name="k2")

    def stream(r: RateRule, now: float) -> UUID:
        window = rate_window(r.id, r.window_s, now)
        return book_id(window.book, window.period)

    assert stream(limit, 0.0) != stream(limit, 60.0)
    assert stream(limit, 0.0) == stream(limit, 59.9)
    assert stream(limit, 0.0) != stream(other, 0.0)
