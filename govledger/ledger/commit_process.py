"""A child process that performs the writer's inserts.

Why a process: a commit makes a dozen round trips to the database, and a thread must take
the GIL back after each one. Under load the event loop holds the GIL most of the time, so
each hand-over waits up to the 5 ms switch interval and a 2 ms commit takes 50 ms. The
group commit (`loop_writer.py`, on the event loop) keeps batching and encoding; only the
insert (the library's own recorder, with its table lock and NOTIFY) runs here, behind one
pipe round trip per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import threading
import uuid
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent

from govledger.ledger.child_start import start_without_main

log = logging.getLogger("govledger.commit")


class CommitFailedError(RuntimeError):
    """The store refused or could not take a batch."""


# One stored event on the pipe: (originator id, version, topic, state). A UUID id travels as
# its 16 bytes. Pickling the library's StoredEvent dataclass (and its UUID) goes through
# `__reduce_ex__` per object, about 5x the cost of these plain tuples, on the event loop.
PackedEvent = tuple[bytes | str, int, str, bytes]


def packed(stored: Sequence[StoredEvent]) -> list[PackedEvent]:
    """The batch as plain tuples, cheap to pickle."""
    return [
        (
            e.originator_id.bytes if isinstance(e.originator_id, uuid.UUID) else e.originator_id,
            e.originator_version,
            e.topic,
            e.state,
        )
        for e in stored
    ]


def unpacked(rows: Sequence[PackedEvent]) -> list[StoredEvent]:
    """The stored events `packed` took apart, equal to the originals."""
    return [
        StoredEvent(
            originator_id=uuid.UUID(bytes=oid) if isinstance(oid, bytes) else oid,
            originator_version=version,
            topic=topic,
            state=state,
        )
        for oid, version, topic, state in rows
    ]


def _serve(url: str, conn: Connection) -> None:  # pragma: no cover - runs in the child
    from govledger.ledger.heap import freeze_after_start
    from govledger.ledger.store import Store, without_retries

    store = None
    freeze_after_start()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the server is gone (even by kill -9): end quietly
            break
        if message is None:
            break
        app, stored = message
        try:
            if store is None:
                store = Store(
                    url, create_tables=False, connect_timeout=1, pool_size=1, max_overflow=0
                )
            recorder = store.apps[app].recorder
            if stored is None:  # a ping: does the store answer?
                without_retries(type(recorder).max_notification_id)(recorder)
                ids: Sequence[int] | None = []
            else:
                ids = without_retries(type(recorder).insert_events)(recorder, unpacked(stored))
            reply: tuple[str, Any] = ("ok", list(ids or []))
        except IntegrityError as error:
            reply = ("integrity", str(error).splitlines()[0])
        except Exception as error:  # report and keep serving; the store may come back
            reply = ("error", f"{type(error).__name__}: {str(error).strip()[:300]}")
            if store is not None:
                store.close()
                store = None
        try:
            conn.send(reply)
        except OSError:  # the server is gone
            break
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
        """Spawn the child (a fresh interpreter: nothing is inherited but the URL).

        A child already running is ended first: there is one commit process at any time.
        """
        self._end_child()
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(self.url, child), name="govledger-commit", daemon=True
        )
        start_without_main(self._process)
        child.close()
        self._conn = parent

    def _end_child(self) -> None:
        """End a child whose pipe broke or that is still running (kill if it does not stop)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        process, self._process = self._process, None
        if process is not None:
            if process.is_alive():
                process.terminate()
                process.join(timeout=2)
            if process.is_alive():
                process.kill()
            process.join(timeout=2)

    def _running(self) -> bool:
        return self._conn is not None and self._process is not None and self._process.is_alive()

    def insert(self, app: str, stored: Sequence[StoredEvent]) -> Sequence[int]:
        """Insert one batch atomically; returns notification ids, raises IntegrityError."""
        with self._lock:
            if not self._running():
                self.start()
            conn = self._conn
            if conn is None:  # pragma: no cover - start() sets it
                raise CommitFailedError("commit process is not running")
            try:
                os.set_blocking(conn.fileno(), True)
                conn.send((app, packed(stored)))
                status, payload = conn.recv()
            except (EOFError, OSError) as error:
                self._end_child()
                raise CommitFailedError(f"commit process died: {error}") from None
        if status == "ok":
            return payload  # type: ignore[no-any-return]
        if status == "integrity":
            raise IntegrityError(payload)
        raise CommitFailedError(payload)

    def ping(self, app: str) -> None:
        """Wait until the child answers from the store (at start: it is warm for the first
        request); CommitFailedError if the store does not answer."""
        with self._lock:
            if not self._running():
                self.start()
            conn = self._conn
            if conn is None:  # pragma: no cover - start() sets it
                raise CommitFailedError("commit process is not running")
            try:
                os.set_blocking(conn.fileno(), True)
                conn.send((app, None))
                status, payload = conn.recv()
            except (EOFError, OSError) as error:
                self._end_child()
                raise CommitFailedError(f"commit process died: {error}") from None
        if status != "ok":
            raise CommitFailedError(payload)

    async def insert_async(self, app: str, stored: Sequence[StoredEvent]) -> Sequence[int]:
        """Like `insert`, from the event loop: write the batch, await the reply readable.

        The caller (LoopWriter) keeps one batch in flight at a time.
        """
        return await self._exchange_async(app, packed(stored))

    async def ping_async(self, app: str) -> None:
        """Ask the child whether the store answers; CommitFailedError if it does not."""
        await self._exchange_async(app, None)

    async def _exchange_async(self, app: str, stored: list[PackedEvent] | None) -> Sequence[int]:
        loop = asyncio.get_running_loop()
        if not self._running():
            self.start()
        conn = self._conn
        if conn is None:  # pragma: no cover - start() sets it
            raise CommitFailedError("commit process is not running")
        fd = conn.fileno()
        reply: asyncio.Future[tuple[str, Any]] = loop.create_future()

        def readable() -> None:
            loop.remove_reader(fd)
            try:
                os.set_blocking(fd, True)  # read the whole reply, however it was split
                reply.set_result(conn.recv())
            except (EOFError, OSError) as error:
                self._end_child()
                reply.set_exception(CommitFailedError(f"commit process died: {error}"))

        try:
            # The loop's add_reader (uvloop: libuv's uv_poll_init) makes the descriptor
            # non-blocking, and a batch larger than the socket buffer then fails half-written
            # with EAGAIN. The child reads each message whole, so a blocking send is short.
            os.set_blocking(fd, True)
            conn.send((app, stored))
        except OSError as error:
            self._end_child()
            raise CommitFailedError(f"commit process died: {error}") from None
        loop.add_reader(fd, readable)
        try:
            status, payload = await reply
        except asyncio.CancelledError:
            # Nobody will read the reply: the pipe is out of step, so start afresh next time.
            with contextlib.suppress(Exception):
                loop.remove_reader(fd)
            self._end_child()
            raise
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
                    os.set_blocking(self._conn.fileno(), True)
                    self._conn.send(None)
            if self._process is not None:
                self._process.join(timeout=10)
            self._end_child()
