"""The benchmark's threaded group commit: one thread appends every event, results to asyncio.

The server does not use it (its group commit, `govledger.ledger.loop_writer`, runs on the
event loop: see docs/architecture.md, "Why processes"); `ledger_append.py` measures both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent

from govledger.ledger.commit_bookkeeping import (
    Callback,
    DuplicateEventError,
    WriterStats,
    describe_events,
    split_ids,
)
from govledger.ledger.events import LedgerEvent
from govledger.ledger.store import Store

log = logging.getLogger("govledger.bench.writer")
Insert = Callable[[str, Sequence[StoredEvent]], Sequence[int]]


@dataclass
class _Append:
    app: str
    events: Sequence[LedgerEvent]
    done: Callback
    linger: bool = False
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future[Sequence[int]] | None = None


class Writer:
    """Batches appends from many callers into one transaction per application."""

    def __init__(
        self,
        store: Store,
        max_batch_events: int = 1000,
        linger_seconds: float = 0.002,
        insert: Insert | None = None,
    ) -> None:
        self._store = store
        self._insert = insert or self._insert_here
        self._max = max_batch_events
        self._linger = linger_seconds
        self._queue: queue.SimpleQueue[_Append | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="govledger-writer", daemon=True)
        self.stats = WriterStats()
        self._resolved: dict[asyncio.AbstractEventLoop, list[_Resolution]] = {}

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def stop(self) -> None:
        """Finish what is queued, then stop the thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=30)

    def submit(
        self, app: str, events: Sequence[LedgerEvent], done: Callback, linger: bool = False
    ) -> None:
        """Queue events for one application; `done` is called from the writer thread.

        A lingering append may wait up to `linger_seconds` for company, so that a request's
        admission and its settlement usually share one commit; anything awaited ends the wait.
        """
        self._queue.put(_Append(app, events, done, linger))

    def append_sync(self, app: str, events: Sequence[LedgerEvent]) -> Sequence[int]:
        """Append and wait, from a thread that is not the writer's."""
        finished = threading.Event()
        outcome: list[Any] = []

        def done(error: BaseException | None, ids: Sequence[int]) -> None:
            outcome.extend([error, ids])
            finished.set()

        self.submit(app, events, done)
        finished.wait()
        if outcome[0] is not None:
            raise outcome[0]
        return outcome[1]  # type: ignore[no-any-return]

    async def append(self, app: str, events: Sequence[LedgerEvent]) -> Sequence[int]:
        """Append and await the commit from asyncio; raises what the store raised."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Sequence[int]] = loop.create_future()
        self._queue.put(_Append(app, events, _no_callback, False, loop, future))
        return await future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            size = len(first.events)
            stopping = False
            deadline = time.monotonic() + (self._linger if first.linger else 0.0)
            while size < self._max:
                wait = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
                size += len(item.events)
                if not item.linger:
                    deadline = 0.0
            for app in ("governance", "usage"):
                group = [item for item in batch if item.app == app]
                if group:
                    self._commit(app, group)
            self._wake_loops()
            if stopping:
                return

    def _insert_here(self, app: str, stored: Sequence[StoredEvent]) -> Sequence[int]:
        return self._store.apps[app].recorder.insert_events(stored) or []

    def _commit(self, app: str, group: list[_Append]) -> None:
        events = [e for item in group for e in item.events]
        started = time.perf_counter()
        try:
            mapper = self._store.apps[app].mapper
            ids = self._insert(app, [mapper.to_stored_event(e) for e in events])
        except IntegrityError:
            if len(group) == 1:
                self._finish(group[0], DuplicateEventError(describe_events(group[0].events)), [])
                return
            for item in group:  # find the one that clashed; commit the others alone
                self._commit(app, [item])
            return
        except Exception as error:  # the store is down or refused: fail these, keep going
            self.stats.failed(error)
            log.warning("append to %s failed: %s", app, str(error).splitlines()[0][:200])
            for item in group:
                self._finish(item, error, [])
            return
        elapsed = time.perf_counter() - started
        self.stats.committed(len(events), elapsed)
        for item, share in zip(group, split_ids([len(i.events) for i in group], ids), strict=True):
            self._finish(item, None, share)

    def _finish(self, item: _Append, error: BaseException | None, ids: Sequence[int]) -> None:
        if item.loop is not None and item.future is not None:
            self._resolved.setdefault(item.loop, []).append((item.future, error, ids))
            return
        try:
            item.done(error, ids)
        except Exception:  # a caller's callback must not kill the writer
            log.exception("writer callback failed")

    def _wake_loops(self) -> None:
        """Resolve a batch's futures with one call per event loop (one self-pipe write)."""
        for loop, resolved in self._resolved.items():
            # A closed loop raises RuntimeError: nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve_all, resolved)
        self._resolved = {}


_Resolution = tuple["asyncio.Future[Sequence[int]]", BaseException | None, Sequence[int]]


def _no_callback(_error: BaseException | None, _ids: Sequence[int]) -> None:
    return None


def _resolve_all(resolved: list[_Resolution]) -> None:
    for future, error, ids in resolved:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(ids)
