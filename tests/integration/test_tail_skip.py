"""A tail that skips this process's own notifications reads them as ids only, never in full."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import Notification, StoredEvent

from govledger.ledger import events as ev
from govledger.ledger.store import Store
from govledger.projections.runner import Batch, Tail


def appended(store: Store, count: int) -> list[int]:
    """`count` usage events appended one per stream; their positions."""
    events = [
        ev.RequestRejected(
            originator_id=uuid.UUID(int=i + 1),
            originator_version=1,
            timestamp=datetime(2026, 12, 1, tzinfo=UTC),
            request_id=uuid.UUID(int=i + 1).hex,
            key_id=None,
            surface="openai_chat",
            model="m",
            code="budget_exceeded",
            level="virtual_key",
            message="no",
            headers={},
        )
        for i in range(count)
    ]
    mapper = store.usage.mapper
    stored: list[StoredEvent] = [mapper.to_stored_event(e) for e in events]
    return list(store.usage.recorder.insert_events(stored) or [])


def test_positions_are_the_ids_after_a_position_in_order(store_url: str) -> None:
    store = Store(store_url)
    try:
        ids = appended(store, 5)
        assert store.positions("usage", 0) == ids
        assert store.positions("usage", ids[1], limit=2) == ids[2:4]
        assert store.positions("usage", ids[-1]) == []
    finally:
        store.close()


def test_a_tail_delivers_only_what_it_did_not_write_and_never_reads_its_own(
    store_url: str,
) -> None:
    store = Store(store_url)
    try:
        ids = appended(store, 12)
        own = set(ids[:4]) | {ids[6], ids[9], ids[11]}  # interleaved, as in a cluster
        asked: list[int] = []

        def skip(position: int) -> bool:
            asked.append(position)
            return position in own

        read: list[int] = []
        real_read = store.read

        def spied(app: str, after: int, limit: int = 1000, stop: int | None = None) -> Any:
            notes: Sequence[Notification] = real_read(app, after, limit, stop)
            read.extend(n.id for n in notes)
            return notes

        store.read = spied  # type: ignore[method-assign]
        delivered: list[Batch] = []
        tail = Tail(store, store_url, "usage", [], [delivered.append], skip=skip)
        try:
            assert tail.step() == 12
            assert tail.step() == 0  # nothing new: nothing read, nothing delivered
        finally:
            tail.db.close()
        got = [position for batch in delivered for position, _ in batch]
        assert got == [p for p in ids if p not in own]
        assert all(isinstance(event, ev.RequestRejected) for b in delivered for _, event in b)
        assert sorted(asked) == ids  # each position asked once
        assert set(read) - own == set(got)  # every foreign one read, in full, once
        assert not set(ids[:4]) & set(read)  # the leading run of its own: ids only
        assert tail.position == ids[-1]
    finally:
        store.close()


def test_a_tail_whose_every_notification_is_its_own_reads_no_state(store_url: str) -> None:
    store = Store(store_url)
    try:
        ids = appended(store, 3)
        store.read = lambda *a, **k: (_ for _ in ()).throw(AssertionError("read"))  # type: ignore[method-assign]
        delivered: list[Batch] = []
        tail = Tail(store, store_url, "usage", [], [delivered.append], skip=lambda _p: True)
        try:
            assert tail.step() == 3
        finally:
            tail.db.close()
        assert delivered == [] and tail.position == ids[-1]
    finally:
        store.close()
