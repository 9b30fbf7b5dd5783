"""Leased allotments as pure decisions: grants never pass the limit, near the end they are
small, expiries free only what a dead holder did not spend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from govledger.proxy.enforcement.allotment import (
    ZERO,
    Book,
    Sizing,
    SpendRate,
    alive,
    ask_ahead,
    book_id,
    expiries,
    grant_amount,
    unused,
)

HOLDERS = ("a/1", "b/1", "c/1")
SIZING = Sizing()
amounts = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(5), places=4)
step = st.tuples(
    st.sampled_from(("ask", "spend", "return", "expire")),
    st.sampled_from(HOLDERS),
    amounts,
    amounts,
)


@settings(max_examples=300, deadline=None)
@given(
    limit=st.decimals(min_value=Decimal(0), max_value=Decimal(20), places=4),
    opening=st.decimals(min_value=Decimal(0), max_value=Decimal(5), places=4),
    steps=st.lists(step, max_size=60),
)
def test_spend_and_live_grants_never_pass_the_limit(
    limit: Decimal, opening: Decimal, steps: list[tuple[str, str, Decimal, Decimal]]
) -> None:
    """Holders admit only within their grants; whatever the order of asks, spends, returns
    and expiries, spend plus what is still granted and unused stays within the limit."""
    book = Book("virtual_key:k#1d", "2026-12-02T00:00:00+00:00")
    spent = dict.fromkeys(HOLDERS, ZERO)
    dead: set[str] = set()
    first = True
    for action, holder, x, y in steps:
        live = set(HOLDERS) - dead
        if action == "ask" and holder in live:
            amount = grant_amount(book, limit, holder, x, y, y, len(live), SIZING, opening)
            assert amount == ZERO or amount >= x
            assert amount <= (book.free(limit) if not first else max(limit - opening, ZERO))
            if amount > ZERO:
                book.granted(holder, amount, opening if first else book.opening)
                first = False
        elif action == "spend" and holder in live:  # admission: only within the grant
            if spent[holder] + x <= book.held.get(holder, ZERO):
                spent[holder] += x
        elif action == "return" and holder in live:
            back = unused(book.held.get(holder, ZERO), spent[holder])
            if back > ZERO:
                book.returned(holder, back, expired=False)
        elif action == "expire":
            dead.add(holder)
            known = {h: spent[h] for h in HOLDERS}
            for gone, back in expiries(book, set(HOLDERS) - dead, known).items():
                book.returned(gone, back, expired=True)
        live_unused = sum((unused(book.held.get(h, ZERO), spent[h]) for h in HOLDERS), ZERO)
        total_spent = sum(spent.values(), ZERO)
        if not first:
            assert book.opening + total_spent + live_unused <= max(limit, book.opening)
            assert book.in_use <= max(limit, book.opening)
        for h in HOLDERS:
            assert spent[h] <= book.held.get(h, ZERO)


@settings(max_examples=200, deadline=None)
@given(
    free=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(100), places=4),
    members=st.integers(min_value=1, max_value=8),
    demand=amounts,
    rate=amounts,
)
def test_a_grant_is_at_most_a_fair_share_unless_the_deficit_needs_more(
    free: Decimal, members: int, demand: Decimal, rate: Decimal
) -> None:
    book = Book("b", "p")
    amount = grant_amount(book, free, "a/1", ZERO, demand, rate, members, SIZING)
    assert amount <= free / members
    assert amount <= max(demand, rate * Decimal(str(SIZING.horizon_s)))


def test_a_near_spent_budget_grants_small_slices() -> None:
    book = Book("b", "p")
    book.granted("b/1", Decimal("9.7"), ZERO)  # 0.3 of 10 left, three members
    amount = grant_amount(book, Decimal(10), "a/1", ZERO, Decimal(5), Decimal(5), 3, SIZING)
    assert amount == Decimal("0.1")
    # A deficit that does not fit gets nothing (the request is refused, nothing stranded).
    assert grant_amount(book, Decimal(10), "a/1", Decimal("0.31"), ZERO, ZERO, 3, SIZING) == 0
    # One that fits gets at least what it needs.
    assert grant_amount(book, Decimal(10), "a/1", Decimal("0.2"), ZERO, ZERO, 3, SIZING) == (
        Decimal("0.2")
    )


def test_an_expired_holder_gets_nothing_more_and_unknown_spend_frees_nothing() -> None:
    book = Book("b", "p")
    book.granted("a/1", Decimal(4), ZERO)
    book.granted("b/1", Decimal(3), ZERO)
    due = expiries(book, {"a/1"}, {"b/1": None})
    assert due == {}  # b's spend is unknown here: left to an instance that saw it
    due = expiries(book, {"a/1"}, {"b/1": Decimal(1)})
    assert due == {"b/1": Decimal(2)}
    book.returned("b/1", Decimal(2), expired=True)
    assert book.held["b/1"] == Decimal(1)
    assert grant_amount(book, Decimal(10), "b/1", Decimal(1), ZERO, ZERO, 2, SIZING) == 0
    assert expiries(book, {"a/1"}, {"b/1": ZERO}) == {}  # expired once
    assert expiries(book, set(), {"a/1": Decimal(4)}) == {}  # spent all it held: nothing


def test_members_are_alive_within_the_lease_time() -> None:
    now = datetime(2026, 12, 2, tzinfo=UTC)
    assert alive(now - timedelta(seconds=5), now, 5.0)
    assert not alive(now - timedelta(seconds=5.01), now, 5.0)


def test_spend_rate_follows_the_spend_and_asks_ahead_when_low() -> None:
    rate = SpendRate(half_life_s=1.0)
    rate.observe(ZERO, 0.0)
    for second in range(1, 6):
        rate.observe(Decimal(second), float(second))  # 1 USD a second
    assert Decimal("0.9") < rate.rate <= Decimal(1)
    assert ask_ahead(Decimal("0.1"), rate.rate, SIZING)
    assert not ask_ahead(Decimal(5), rate.rate, SIZING)
    assert not ask_ahead(ZERO, ZERO, SIZING)  # an idle holder never asks ahead


def test_a_book_has_one_stream_id_per_budget_period() -> None:
    assert book_id("b", "p") == book_id("b", "p")
    assert book_id("b", "p") != book_id("b", "q")
