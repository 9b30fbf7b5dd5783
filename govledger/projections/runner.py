"""Follow an application's log: update views exactly once, and tell listeners what arrived.

PostgreSQL wakes the tail with LISTEN/NOTIFY; SQLite cannot, so the tail polls (and the
local writer nudges it after each commit).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

from eventsourcing import persistence as es_persistence
from eventsourcing.persistence import Notification

from govledger.ledger.events import LedgerEvent
from govledger.ledger.store import Store, StoreUnavailableError
from govledger.projections.database import (
    Cursor,
    OnRebuild,
    ViewDatabase,
    connection_errors,
    set_position,
)

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger("govledger.projections")

Batch = Sequence[tuple[int, LedgerEvent]]


class View(Protocol):
    """A materialized view: a name, the application it follows, its tables, a batch fold."""

    name: str
    app: str
    on_rebuild: OnRebuild
    tables: tuple[str, ...]

    def process(self, cur: Cursor, items: Batch) -> None:
        """Apply a batch inside the caller's transaction."""


def catch_up(
    store: Store,
    db: ViewDatabase,
    app: str,
    views: Sequence[View],
    listeners: Sequence[Callable[[Batch], None]] = (),
    batch_size: int = 2000,
    progress: Callable[[int], None] | None = None,
    read_ahead: bool = False,
) -> int:
    """Apply everything after the views' positions; returns the number of events applied.

    Each batch is one transaction that first re-reads (and on PostgreSQL locks) the views'
    tracking rows, so two instances following the same log never apply a batch twice.
    With `read_ahead` (a rebuild) the page after a full one is read on a thread while this
    one folds; it is used only if the views' positions are then where it starts.
    """
    reader = ThreadPoolExecutor(1, thread_name_prefix="govledger-read") if read_ahead else None
    ahead: tuple[int, Future[Sequence[Notification]]] | None = None
    try:
        applied = 0
        while True:
            positions = {v.name: db.position(v.name, app) for v in views}
            after = min(positions.values())
            if ahead is not None and ahead[0] == after:
                notes = ahead[1].result()
            else:
                notes = store.read(app, after, batch_size)
            ahead = None
            if not notes:
                return applied
            if reader is not None and len(notes) == batch_size:
                start = notes[-1].id  # the log is gapless: an earlier read gives a prefix
                ahead = (start, reader.submit(store.read, app, start, batch_size))
            items = [(n.id, store.decode(app, n)) for n in notes]
            last = items[-1][0]
            with db.transaction() as cur:
                if lock_positions(cur, db, app, views) != positions:
                    continue  # another instance moved the views on: read again
                for view in views:
                    mine = [item for item in items if item[0] > positions[view.name]]
                    if mine:
                        view.process(cur, mine)
                        set_position(cur, view.name, app, last)
            for listener in listeners:
                listener(items)
            applied += len(items)
            if progress is not None:
                progress(len(items))
    finally:
        if reader is not None:
            reader.shutdown(wait=True)


def lock_positions(
    cur: Cursor, db: ViewDatabase, app: str, views: Sequence[View]
) -> dict[str, int]:
    """Read the views' positions inside the caller's transaction, locking them on PostgreSQL."""
    suffix = " FOR UPDATE" if db.is_postgres else ""
    positions = {}
    for view in views:
        cur.execute(
            "SELECT position FROM gl_tracking WHERE view = ? AND app = ?" + suffix, (view.name, app)
        )
        found = cur.fetchone()
        positions[view.name] = int(found[0]) if found else 0
    return positions


class Tail:
    """A thread that follows one application's log.

    With views it keeps them current (positions in the database); without views it feeds
    listeners from an in-memory position, skipping notifications `skip` says are known.
    """

    def __init__(
        self,
        store: Store,
        db_url: str,
        app: str,
        views: Sequence[View],
        listeners: Sequence[Callable[[Batch], None]] = (),
        poll_seconds: float = 0.25,
        min_interval_seconds: float = 0.1,
        after: int = 0,
        skip: Callable[[int], bool] | None = None,
    ) -> None:
        self.store = store
        self.db = ViewDatabase(db_url)
        self.app = app
        self.views = list(views)
        self.listeners = list(listeners)
        self.poll_seconds = poll_seconds
        self.min_interval_seconds = min_interval_seconds
        self.position = after
        self.skip = skip
        self.errors = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"govledger-tail-{app}", daemon=True)

    def start(self) -> None:
        """Start following the log."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current batch."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self.db.close()

    def nudge(self) -> None:
        """Ask for an immediate read (the local writer calls this after a commit)."""
        self._wake.set()

    def step(self) -> int:
        """Read and apply what is new; returns the number of notifications read."""
        if self.views:
            return catch_up(self.store, self.db, self.app, self.views, self.listeners)
        count = 0
        while True:
            if self.skip is None:
                notes = list(self.store.read(self.app, self.position, 1000))
                if not notes:
                    return count
                last, read = notes[-1].id, len(notes)
            else:  # ids first: what this process wrote itself is never read back
                positions = self.store.positions(self.app, self.position, 1000)
                if not positions:
                    return count
                notes = self._foreign(positions, self.skip)
                last, read = positions[-1], len(positions)
            self.position = last
            count += read
            items = [(n.id, self.store.decode(self.app, n)) for n in notes]
            if items:
                for listener in self.listeners:
                    listener(items)

    def _foreign(self, positions: Sequence[int], skip: Callable[[int], bool]) -> list[Notification]:
        """The notifications at these positions that `skip` does not claim (asked once each)."""
        foreign = {position for position in positions if not skip(position)}
        if not foreign:
            return []
        first, last = min(foreign), max(foreign)
        notes = self.store.read(self.app, first - 1, last - first + 1, stop=last)
        return [note for note in notes if note.id in foreign]

    def _run(self) -> None:
        if self.db.is_postgres:  # listening is PostgreSQL's; a tail on SQLite never loads it
            import psycopg
        listen = self._listen_connection()
        failing = False
        while not self._stop.is_set():
            try:
                self.step()
                if failing:
                    log.debug("tail of %s resumed", self.app)
                failing = False
            except Exception as error:  # the store may be down: keep trying
                self.errors += 1
                # An outage is reported once, by the writer; anything else once per streak.
                quiet = failing or is_outage(error)
                (log.debug if quiet else log.warning)(
                    "tail of %s failed: %s", self.app, str(error).splitlines()[0]
                )
                failing = True
                self._stop.wait(0.5)
            if listen is not None:
                try:
                    for _ in listen.notifies(timeout=self.poll_seconds, stop_after=1):
                        pass
                except psycopg.Error:
                    listen = self._listen_connection()
            else:
                self._wake.wait(self.poll_seconds)
            self._wake.clear()
            # Batch what arrives in a short while: fewer, larger transactions off the hot path.
            self._stop.wait(self.min_interval_seconds)
        if listen is not None:
            listen.close()

    def _listen_connection(self) -> psycopg.Connection[tuple[object, ...]] | None:
        if not self.db.is_postgres:
            return None
        import psycopg

        try:
            conn = self.db.connect()
            channel = f"{self.app}_events"
            conn.execute(psycopg.sql.SQL("LISTEN {0}").format(psycopg.sql.Identifier(channel)))
            return conn  # type: ignore[no-any-return]
        except psycopg.Error:
            self._stop.wait(1.0)
            return None


def is_outage(error: BaseException) -> bool:
    """True for the errors of a store that is down or locked (not of a bad event)."""
    return isinstance(
        error,
        (
            OSError,
            *connection_errors(),  # SQLite's, and psycopg's where it is loaded
            es_persistence.OperationalError,
            es_persistence.InterfaceError,
            StoreUnavailableError,
        ),
    )
