"""The PostgreSQL recorder's batch insert: four arrays sent in binary, read back unchanged."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

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


def test_a_batch_is_committed_by_one_statement(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the library's pipeline is BEGIN, SET LOCAL, LOCK, NOTIFY, INSERT, sync, then COMMIT
    store = Store(postgres_url)
    try:
        recorder = store.usage.recorder
        assert isinstance(recorder, ArrayInsertRecorder)
        statements: list[str] = []
        execute = psycopg.Cursor.execute

        def counted(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            statements.append(str(query))
            return execute(cursor, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "execute", counted)
        monkeypatch.setattr(psycopg.Connection, "pipeline", None)  # not entered at all
        assert recorder.insert_events(batch(3)) == [1, 2, 3]
        monkeypatch.undo()
        assert len(statements) == 1
        assert not recorder.function_missing
        assert [n.originator_version for n in store.read("usage", 0)] == [1, 2, 3]
    finally:
        store.close()


def test_a_taken_version_is_refused_and_nothing_of_the_batch_is_kept(postgres_url: str) -> None:
    store = Store(postgres_url)
    try:
        recorder = store.usage.recorder
        recorder.insert_events(batch(1))
        fresh = StoredEvent(uuid.UUID(int=77), 1, "topic:fresh", b"{}")
        with pytest.raises(IntegrityError):
            recorder.insert_events([fresh, *batch(1)])  # the second clashes
        assert [n.originator_id for n in store.read("usage", 0)] == [uuid.UUID(int=1)]
        recorder.insert_events([fresh])  # the clash left no lock or aborted transaction
        assert [n.originator_id for n in store.read("usage", 0)] == [
            uuid.UUID(int=1),
            uuid.UUID(int=77),
        ]
    finally:
        store.close()


def test_without_the_function_the_library_pipeline_still_inserts(postgres_url: str) -> None:
    # tables made by an older release, opened without creating tables
    store = Store(postgres_url)
    recorder = store.usage.recorder
    assert isinstance(recorder, ArrayInsertRecorder)
    name = f"govledger_insert_{recorder.events_table_name}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP FUNCTION "{name}"')
    store.close()
    old = Store(postgres_url, create_tables=False)
    try:
        recorder = old.usage.recorder
        assert isinstance(recorder, ArrayInsertRecorder)
        assert recorder.insert_events(batch(2)) == [1, 2]
        assert recorder.function_missing
        assert recorder.insert_events([StoredEvent(uuid.UUID(int=5), 1, "t", b"{}")]) == [3]
        assert len(old.read("usage", 0)) == 3
    finally:
        old.close()


def test_instances_starting_together_create_the_tables_without_a_clash(
    postgres_url: str,
) -> None:
    # two concurrent CREATE OR REPLACE FUNCTION of one name: "tuple concurrently updated"
    failures: list[BaseException] = []
    stores: list[Store] = []
    start = threading.Barrier(4)

    def open_store() -> None:
        start.wait()
        try:
            stores.append(Store(postgres_url))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(error)

    for _ in range(3):
        threads = [threading.Thread(target=open_store) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        while stores:
            stores.pop().close()
        start.reset()
    assert failures == []
