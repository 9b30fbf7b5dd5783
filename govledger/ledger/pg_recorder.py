"""A PostgreSQL recorder that inserts a batch as four parallel arrays.

The library's recorder sends a batch as an array of a composite type, which psycopg
escapes as text (two regex passes per event). Parallel arrays of uuid, int, text and
bytea go in binary (`%b`: with `%s` psycopg dumped these lists as text, escaping each
state, ~24 µs per event against ~1.5). The table, the lock that keeps the log gapless
and the NOTIFY are the library's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier


class ArrayInsertRecorder(PostgresApplicationRecorder):
    """PostgresApplicationRecorder with a binary array insert."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.insert_events_statement = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::uuid[], %b::int[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id"
        ).format(
            schema=Identifier(self.datastore.schema),
            table=Identifier(self.events_table_name),
        )

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **_: Any
    ) -> None:
        self._lock_table(curs)
        self._notify_channel(curs)
        ids = [e.originator_id for e in stored_events]
        if len(set(map(type, ids))) > 1:  # binary lists are of one type: UUIDs and str as text
            ids = [str(i) for i in ids]
        curs.execute(
            self.insert_events_statement,
            (
                ids,
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ),
        )
