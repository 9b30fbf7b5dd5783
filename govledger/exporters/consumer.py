"""A tracked consumer of one application's log: its own position row in gl_tracking.

Each batch is read as stored notifications (the exact bytes in the log), processed and
its position recorded in one transaction, so a consumer resumes exactly where it stopped.
Consumers that deliver outside the database (a SIEM, a webhook) deliver before that
transaction commits: at least once, each record carrying `event_id` for deduplication.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from eventsourcing.persistence import Notification

from govledger.ledger.events import LedgerEvent
from govledger.ledger.store import Store
from govledger.projections.database import Cursor, OnRebuild, ViewDatabase, set_position
from govledger.projections.runner import Tail

Decode = Callable[[Notification], LedgerEvent]


class Consumer(Protocol):
    """A consumer: a name (its tracking row), the application it follows, a batch step.

    `on_rebuild` says what `govledger rebuild` does to it: `refold` (a fold of the log
    alone: its `tables` and position are cleared, it folds from event 1) or `keep`
    (evidence or delivery: its row and tables are left as they are).
    """

    name: str
    app: str
    on_rebuild: OnRebuild
    tables: tuple[str, ...]

    def process(self, cur: Cursor, notes: Sequence[Notification], decode: Decode) -> None:
        """Handle a batch inside the caller's transaction (raise to retry it later)."""


def event_id(event: LedgerEvent) -> str:
    """The stable id of an event: its stream id and version (`<uuid>:<version>`)."""
    return f"{event.originator_id}:{event.originator_version}"


def consume(
    store: Store,
    db: ViewDatabase,
    consumer: Consumer,
    batch_size: int = 1000,
    ensure: bool = True,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Process everything after the consumer's position; returns the number processed.

    The position row is re-read (and locked on PostgreSQL) inside each batch's
    transaction, so two instances running the same consumer never process a batch twice.
    `ensure` first creates the row at 0 if it is missing: a missing row cannot be locked.
    """
    processed = 0
    if ensure:
        with db.transaction() as cur:
            cur.execute(
                "INSERT INTO gl_tracking (view, app, position) VALUES (?, ?, 0) "
                "ON CONFLICT (view, app) DO NOTHING",
                (consumer.name, consumer.app),
            )

    def decode(note: Notification) -> LedgerEvent:
        return store.decode(consumer.app, note)

    while True:
        after = db.position(consumer.name, consumer.app)
        notes = store.read(consumer.app, after, batch_size)
        if not notes:
            return processed
        with db.transaction() as cur:
            if locked_position(cur, db, consumer) != after:
                continue  # another instance moved on: read again
            consumer.process(cur, notes, decode)
            set_position(cur, consumer.name, consumer.app, notes[-1].id)
        processed += len(notes)
        if progress is not None:
            progress(len(notes))


def locked_position(cur: Cursor, db: ViewDatabase, consumer: Consumer) -> int:
    """A consumer's position read inside the caller's transaction (locked on PostgreSQL)."""
    suffix = " FOR UPDATE" if db.is_postgres else ""
    cur.execute(
        "SELECT position FROM gl_tracking WHERE view = ? AND app = ?" + suffix,
        (consumer.name, consumer.app),
    )
    found = cur.fetchone()
    return int(found[0]) if found else 0


class ConsumerTail(Tail):
    """A thread that keeps one consumer current (LISTEN/NOTIFY on PostgreSQL, polling SQLite)."""

    def __init__(self, store: Store, db_url: str, consumer: Consumer) -> None:
        super().__init__(store, db_url, consumer.app, [])
        self.consumer = consumer
        self._ensured = False

    def step(self) -> int:
        """Process what is new for the consumer."""
        count = consume(self.store, self.db, self.consumer, ensure=not self._ensured)
        self._ensured = True
        return count
