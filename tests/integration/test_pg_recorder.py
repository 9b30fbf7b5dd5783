"""The PostgreSQL recorder's batch insert: four arrays sent in binary, read back unchanged."""

from __future__ import annotations

import uuid

import psycopg
from eventsourcing.persistence import StoredEvent

from govledger.ledger.pg_recorder import ArrayInsertRecorder
from govledger.ledger.store import Store


def batch(n: int) -> list[StoredEvent]:
    """Stored events whose states hold every byte value (bytea in binary, not escaped)."""
    return [
        StoredEvent(uuid.UUID(int=i + 1), i + 1, f"topic:{i}", bytes(range(256)) + b"\\'\x00")
        for i in range(n)
    ]


def test_the_insert_sends_its_four_arrays_in_binary(postgres_url: str) -> None:
    # with `%s` psycopg dumped the lists as text: every state escaped, ~24 µs per event
    store = Store(postgres_url)
    try:
        recorder = store.usage.recorder
        assert isinstance(recorder, ArrayInsertRecorder)
        with psycopg.connect(postgres_url) as conn:
            query = recorder.insert_events_statement.as_string(conn)
        assert query.count("%b") == 4
        assert "%s" not in query
    finally:
        store.close()


def test_a_batch_inserted_in_binary_reads_back_byte_for_byte(postgres_url: str) -> None:
    store = Store(postgres_url)
    try:
        events = batch(50)
        ids = store.usage.recorder.insert_events(events)
        assert ids == list(range(1, 51))
        notes = store.read("usage", 0, 100)
        assert [(n.originator_id, n.originator_version, n.topic, n.state) for n in notes] == [
            (e.originator_id, e.originator_version, e.topic, e.state) for e in events
        ]
    finally:
        store.close()


def test_a_batch_mixing_uuid_and_text_stream_ids_is_inserted(postgres_url: str) -> None:
    store = Store(postgres_url)
    try:
        events = batch(2)
        events[1] = StoredEvent(str(uuid.UUID(int=9)), 1, "topic:text", b"{}")
        assert store.usage.recorder.insert_events(events) == [1, 2]
        assert [n.originator_id for n in store.read("usage", 0)] == [
            uuid.UUID(int=1),
            uuid.UUID(int=9),
        ]
    finally:
        store.close()
