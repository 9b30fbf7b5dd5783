"""A rate limit's book read cold from the store: its last event carries the book's TAT, so a
process that starts reads one event, not the stream from version 1 (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from govledger.ledger import events as ev
from govledger.ledger.store import Store
from govledger.proxy.enforcement.allotment import book_id
from govledger.proxy.enforcement.rate_allotment import RateBook
from govledger.proxy.server.allotments import BookStore

KEY = ("rate:virtual_key:k1#requests", "gcra:10/60.0")


def granted(book: RateBook, units: int, at: float) -> ev.AllotmentGranted:
    """A grant of `units` at `at` as the book's next version, with the TAT it leaves."""
    return ev.AllotmentGranted(
        originator_id=book_id(*KEY),
        originator_version=book.version + 1,
        timestamp=datetime.fromtimestamp(at, UTC),
        budget=KEY[0],
        period=KEY[1],
        holder="a/1",
        amount=Decimal(units),
        opening=Decimal(0),
        limit=Decimal(10),
        members=1,
        tat=book.tat_granted(units, at),
    )


def returned(book: RateBook, grant: int, units: int, at: float) -> ev.AllotmentReturned:
    """A return of `units` of `grant`, with the TAT it leaves."""
    return ev.AllotmentReturned(
        originator_id=book_id(*KEY),
        originator_version=book.version + 1,
        timestamp=datetime.fromtimestamp(at, UTC),
        budget=KEY[0],
        period=KEY[1],
        holder="a/1",
        amount=Decimal(units),
        reason="lapsed",
        grant=grant,
        tat=book.tat_returned(grant, units),
    )


def test_a_cold_reader_starts_from_the_last_events_tat(store_url: str) -> None:
    """120 grants and returns appended with their TAT: the last event read alone gives the
    TAT the whole stream folds to."""
    store = Store(store_url)
    books = BookStore(store)
    try:
        full = RateBook(10, 60.0)
        assert books.read_last(book_id(*KEY)) is None
        for step in range(1, 121):
            at = 1_000_000.0 + 3.0 * step
            event = granted(full, 2, at)
            books.append(event)
            full.granted(2, at)
            if step % 3 == 0:
                back = returned(full, full.version, 1, at + 2.0)
                books.append(back)
                full.returned(back.grant, 1)
        last = books.read_last(book_id(*KEY))
        assert isinstance(last, ev.AllotmentReturned)
        assert last.originator_version == full.version
        assert last.tat == full.tat
        assert len(books.read(book_id(*KEY), last.originator_version)) == 0
    finally:
        books.close()
        store.close()
