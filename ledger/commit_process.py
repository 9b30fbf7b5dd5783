"""A child process that performs the writer's inserts.

Why a process: a commit makes a dozen round trips to the database, and a thread must take
the GIL back after each one. Under load the event loop holds the GIL most of the time, so
each hand-over waits up to the 5 ms switch interval and a 2 ms commit takes 50 ms. The
writer thread keeps batching and encoding; only the insert (the library's own recorder,
with its table lock and NOTIFY) runs here, behind one pipe round trip per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent

log = logging.getLogger("govledger.commit")


class CommitFailedError(RuntimeError):
    """The store refused or could not take a batch."""


def _serve(url: str, conn: Connection) -> None:  # pragma: no cover - runs in the child
    from ledger.store import Store

    store = None
    while True:
        message = conn.recv()
        if message is None:
            break
        app, stored = message
        try:
            if store is None:
                store = Store(url, create_tables=False)
            ids = store.apps[app].recorder.insert_events(stored)
            conn.send(("ok", list(ids or [])))
        except IntegrityError as error:
            conn.send(("integrity", str(error).splitlines()[0]))
        except Exception as error:  # report and keep serving; the store may come back
            conn.send(("error", f"{type(error).__name__}: {str(error).strip()[:300]}"))
            if store is not None:
                store.close()
                store = None
    if store is not None:
        store.close()


class CommitProcess:
    """Inserts batches of stored events in a child process; one caller at a time."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._process: Any = None
        self._conn: Connection | None = None

    def start(self) -> None:
        """Spawn the child (a fresh interpreter: nothing is inherited but the URL)."""
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(self.url, child), name="govledger-commit", daemon=True
        )
        self._process.start()
        child.close()
        self._conn = parent

    def insert(self, app: str, stored: Sequence[StoredEvent]) -> Sequence[int]:
        """Insert one batch atomically; returns notification ids, raises IntegrityError."""
        with self._lock:
            if self._conn is None or not self._process.is_alive():
                self.start()
            conn = self._conn
            if conn is None:  # pragma: no cover - start() sets it
                raise CommitFailedError("commit process is not running")
            try:
                conn.send((app, list(stored)))
                status, payload = conn.recv()
            except (EOFError, OSError) as error:
                self._conn = None
                raise CommitFailedError(f"commit process died: {error}") from None
        if status == "ok":
            return payload  # type: ignore[no-any-return]
        if status == "integrity":
            raise IntegrityError(payload)
        raise CommitFailedError(payload)

    async def insert_async(self, app: str, stored: Sequence[StoredEvent]) -> Sequence[int]:
        """Like `insert`, from the event loop: write the batch, await the reply readable.

        The caller (LoopWriter) keeps one batch in flight at a time.
        """
        loop = asyncio.get_running_loop()
        if self._conn is None or not self._process.is_alive():
            self.start()
        conn = self._conn
        if conn is None:  # pragma: no cover - start() sets it
            raise CommitFailedError("commit process is not running")
        reply: asyncio.Future[tuple[str, Any]] = loop.create_future()

        def readable() -> None:
            loop.remove_reader(conn.fileno())
            try:
                reply.set_result(conn.recv())
            except (EOFError, OSError) as error:
                self._conn = None
                reply.set_exception(CommitFailedError(f"commit process died: {error}"))

        try:
            conn.send((app, list(stored)))
        except OSError as error:
            self._conn = None
            raise CommitFailedError(f"commit process died: {error}") from None
        loop.add_reader(conn.fileno(), readable)
        status, payload = await reply
        if status == "ok":
            return payload  # type: ignore[no-any-return]
        if status == "integrity":
            raise IntegrityError(payload)
        raise CommitFailedError(payload)

    def stop(self) -> None:
        """Ask the child to finish and wait for it."""
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(OSError):
                    self._conn.send(None)
                self._conn.close()
                self._conn = None
            if self._process is not None:
                self._process.join(timeout=10)
                if self._process.is_alive():
                    self._process.terminate()
                self._process = None
