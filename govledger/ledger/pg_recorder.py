"""A PostgreSQL recorder that inserts a batch in one round trip, as four parallel arrays.

The library's recorder sends a batch as an array of a composite type, which psycopg
escapes as text (two regex passes per event). Parallel arrays of uuid, int, text and
bytea go in binary (`%b`: with `%s` psycopg dumped these lists as text, escaping each
state, ~24 µs per event against ~1.5).

The library's transaction is a pipeline (BEGIN, SET LOCAL lock_timeout, LOCK TABLE,
NOTIFY, INSERT, sync) and then a COMMIT: two round trips and the pipeline's own syncs,
0.83-1.21 ms for two events here against 0.40-0.48 ms for the same statements in one
function called on an autocommit connection (`bench/commit_floor.py`). So the batch goes
through `govledger_insert_<table>`: the same lock that keeps the log gapless, the same
NOTIFY, the same INSERT ... RETURNING, committed by the statement's own implicit
transaction before the answer. A database that lacks the function (opened without creating
tables, by an older release's tables) falls back to the library's pipeline.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import psycopg.errors
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

# Serialises the creation of tables and functions between instances starting together: two
# concurrent CREATE OR REPLACE FUNCTION of one name fail with "tuple concurrently updated".
CREATE_LOCK_KEY = 0x676C5F6C6467  # "gl_ldg"
CREATE_ATTEMPTS = 5


class ArrayInsertRecorder(PostgresApplicationRecorder):
    """PostgresApplicationRecorder with a binary array insert in one round trip."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema = Identifier(self.datastore.schema)
        table = Identifier(self.events_table_name)
        self.insert_events_statement = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::uuid[], %b::int[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id"
        ).format(schema=schema, table=table)
        function = Identifier(f"govledger_insert_{self.events_table_name}")
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{function}("
                "ids uuid[], versions int[], topics text[], states bytea[], wait text) "
                "RETURNS SETOF bigint LANGUAGE plpgsql AS $body$ "
                "BEGIN "
                "PERFORM set_config('lock_timeout', wait, true); "
                "LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
                "NOTIFY {channel}; "
                "RETURN QUERY INSERT INTO {schema}.{table} "
                "(originator_id, originator_version, topic, state) "
                "SELECT * FROM unnest(ids, versions, topics, states) "
                "RETURNING notification_id; "
                "END; $body$"
            ).format(
                schema=schema,
                function=function,
                table=table,
                channel=Identifier(self.channel_name),
            )
        )
        self.call_insert_statement = SQL(
            "SELECT * FROM {schema}.{function}(%b::uuid[], %b::int[], %b::text[], %b::bytea[], %s) "
            "AS inserted(notification_id)"
        ).format(schema=schema, function=function)
        self.lock_wait = f"{self.datastore.lock_timeout}s"
        self.function_missing = False

    def create_table(self) -> None:
        """The library's, again when an instance starting beside this one won a race.

        Its composite types are created each in its own transaction before the lock below
        is taken, and two concurrent CREATE TYPE of one name can fail on the catalog's
        unique index instead of as "already exists"; a second pass finds them made.
        """
        for attempt in range(CREATE_ATTEMPTS):
            try:
                super().create_table()
                return
            except IntegrityError:
                if attempt == CREATE_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _create_table(self, curs: Cursor[DictRow]) -> None:
        curs.execute("SELECT pg_advisory_xact_lock(%s)", (CREATE_LOCK_KEY,))
        super()._create_table(curs)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Insert and commit the batch in one statement; its notification ids, in order."""
        if not stored_events or self.function_missing:
            return super().insert_events.__wrapped__(self, stored_events, **kwargs)  # type: ignore[no-any-return]
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            try:
                curs.execute(self.call_insert_statement, (*columns(stored_events), self.lock_wait))
            except psycopg.errors.UndefinedFunction:
                self.function_missing = True
            else:
                return [row["notification_id"] for row in curs.fetchall()]
        return super().insert_events.__wrapped__(self, stored_events, **kwargs)  # type: ignore[no-any-return]

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **_: Any
    ) -> None:
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(self.insert_events_statement, columns(stored_events))


def columns(stored_events: Sequence[StoredEvent]) -> tuple[list[Any], ...]:
    """The batch as four parallel lists: ids, versions, topics, states."""
    ids: list[Any] = [e.originator_id for e in stored_events]
    if len(set(map(type, ids))) > 1:  # binary lists are of one type: UUIDs and str as text
        ids = [str(i) for i in ids]
    return (
        ids,
        [e.originator_version for e in stored_events],
        [e.topic for e in stored_events],
        [e.state for e in stored_events],
    )
