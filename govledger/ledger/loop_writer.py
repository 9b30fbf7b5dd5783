"""Group commit driven by the event loop itself, for the server's hot path; loses nothing.

A writer thread (the benchmark keeps one: `bench/thread_writer.py`) hands the GIL back and
forth with a busy event loop at every wake-up, and each hand-over can wait the 5 ms switch
interval: measured next to a busy thread, a 2 ms commit took 20-50 ms. Here the loop
batches, encodes, writes the batch to the commit process's pipe and is woken by the reply
(`add_reader`): no thread, no GIL hand-over, one commit in flight while the next batch
gathers.

Nothing handed to the writer is dropped. When a commit fails (the store is down), that batch
and everything queued behind it go to the `Spool`, a local append-only file, and so does
everything appended until the store answers again; the writer retries, commits the spool in
order, and only then takes the normal path again. A caller awaiting a commit that is spooled,
or that does not arrive in time, gets `CommitDeferredError`: its events are kept all the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from eventsourcing.persistence import IntegrityError, StoredEvent

from govledger.ledger.commit_bookkeeping import (
    Callback,
    DuplicateEventError,
    WriterStats,
    describe_events,
    split_ids,
)
from govledger.ledger.commit_process import CommitProcess
from govledger.ledger.events import LedgerEvent
from govledger.ledger.spool import Record, Spool
from govledger.ledger.store import Store

log = logging.getLogger("govledger.writer")

Clock = Callable[[], float]
STALL_PER_EVENT_S = 0.0005  # added to the stall threshold per event of the batch in flight


class CommitDeferredError(RuntimeError):
    """The store cannot take these events now; they are kept and committed when it returns."""


class CommitStalledError(RuntimeError):
    """A commit has waited longer than the stall threshold."""


@dataclass
class _Pending:
    app: str
    events: Sequence[LedgerEvent]
    done: Callback | None
    future: asyncio.Future[Sequence[int]] | None
    linger: bool
    stored: list[StoredEvent] | None = None


class LoopWriter:
    """Batches appends made on the event loop into one commit per application at a time."""

    def __init__(
        self,
        store: Store,
        commits: CommitProcess,
        spool: Spool | None = None,
        max_batch_events: int = 1000,
        linger_seconds: float = 0.002,
        stall_after_s: float = 3.0,
        memory_limit_events: int = 20_000,
        ping_every_s: float = 1.0,
        retry_max_s: float = 0.25,
        clock: Clock = time.monotonic,
    ) -> None:
        self._store = store
        self._commits = commits
        self._spool = spool
        self._max = max_batch_events
        self._linger = linger_seconds
        self._stall_after = stall_after_s
        self._memory_limit = memory_limit_events
        self._ping_every = ping_every_s
        self._retry_max = retry_max_s
        self._clock = clock
        self._pending: deque[_Pending] = deque()
        self._pending_events = 0
        self._in_flight_since: float | None = None
        self._in_flight_events = 0
        self._down_since: float | None = None
        self._down_reason = ""
        self._recovered = 0
        self._warm = False  # the commit process has answered once
        self._last_answer: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._urgent: asyncio.Event | None = None
        self.stats = WriterStats()
        self.listeners: list[Callable[[str, Sequence[int], float], None]] = []

    # -- health --------------------------------------------------------------------------

    def accepting(self) -> bool:
        """True while new requests may be admitted: the store takes commits in time."""
        if not self.stats.healthy or self._spooled():
            return False
        since = self._in_flight_since  # (the child's first answer includes its start-up)
        # A big batch may take longer than a small one: half a millisecond more per event.
        limit = self._stall_after + self._in_flight_events * STALL_PER_EVENT_S
        if since is not None and self._warm and self._clock() - since > limit:
            # A stalled store: what arrives now goes to the spool, behind the waiting commit.
            self._went_down(CommitStalledError(f"no answer for {self._clock() - since:.1f} s"))
            return False
        return self._pending_events < self._memory_limit

    def answered_within(self, seconds: float) -> bool:
        """True if the store took a commit or answered a ping in the last `seconds`."""
        return self._last_answer is not None and self._clock() - self._last_answer <= seconds

    @property
    def backlog(self) -> int:
        """Events handed over and not yet committed (in memory and in the spool)."""
        return self._pending_events + (len(self._spool) if self._spool is not None else 0)

    def _spooled(self) -> bool:
        return self._spool is not None and len(self._spool) > 0

    def _went_down(self, error: BaseException) -> None:
        self.stats.failed(error)
        if self._down_since is None:
            self._down_since = self._clock()
            self._down_reason = str(error).splitlines()[0][:200] if str(error) else repr(error)
            where = f"; kept in {self._spool.path}" if self._spool is not None else ""
            log.warning(
                "the event store is unavailable (%s): refusing new requests, keeping every "
                "event%s until it returns",
                self._down_reason,
                where,
            )

    def _came_back(self) -> None:
        if self._down_since is not None and not self._spooled():
            log.warning(
                "the event store answers again after %.1f s: %d kept event(s) committed, "
                "admitting requests",
                self._clock() - self._down_since,
                self._recovered,
            )
            self._down_since = None
            self._recovered = 0

    # -- appending -----------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the flushing task on the loop (call from the loop's thread)."""
        self._loop = loop
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()
        self._task = loop.create_task(self._run())

    async def close(self, timeout: float = 10.0) -> None:
        """Commit what is queued (or, if the store does not take it in time, spool it); stop."""
        if self._task is None:
            return
        deadline = self._clock() + timeout
        while (self._pending or self._in_flight_since is not None) and self._clock() < deadline:
            if self._down_since is not None and self._in_flight_since is None:
                break  # the store is down: what is queued goes to the spool below
            await asyncio.sleep(0.005)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._pending and self._spool is not None:
            left = list(self._pending)
            self._pending.clear()
            self._pending_events = 0
            self._keep(left, front=True)
        elif self._pending:
            log.error("%d event(s) could not be committed before stopping", self._pending_events)

    def submit(
        self, app: str, events: Sequence[LedgerEvent], done: Callback, linger: bool = False
    ) -> None:
        """Queue events (from the loop's thread); `done` is called after the commit."""
        self._enqueue(_Pending(app, events, done, None, linger))

    async def append(self, app: str, events: Sequence[LedgerEvent]) -> Sequence[int]:
        """Append and await the commit; CommitDeferredError if it is kept for later."""
        future: asyncio.Future[Sequence[int]] = asyncio.get_running_loop().create_future()
        self._enqueue(_Pending(app, events, None, future, False))
        return await future

    def append_sync(self, app: str, events: Sequence[LedgerEvent]) -> Sequence[int]:
        """Append and wait from another thread; before the loop runs, insert directly."""
        loop = self._loop
        if loop is None or not loop.is_running() or _on_loop_thread(loop):
            if not events:
                return []
            mapper = self._store.apps[app].mapper
            try:
                return self._commits.insert(app, [mapper.to_stored_event(e) for e in events])
            except IntegrityError:
                raise DuplicateEventError(describe_events(events)) from None
        return asyncio.run_coroutine_threadsafe(self.append(app, events), loop).result()

    def _enqueue(self, item: _Pending) -> None:
        if self._spool is not None and (self._spooled() or self._down_since is not None):
            self._keep([item])  # the store is (or was just) down: in order, behind the spool
            return
        over = self._pending_events + len(item.events) > self._memory_limit
        if over and self._spool is not None:
            self._keep([*self._pending, item])  # a stalled store: spill what waits to disk
            self._pending.clear()
            self._pending_events = 0
            return
        self._pending.append(item)
        self._pending_events += len(item.events)
        if self._wake is not None:
            self._wake.set()
            if not item.linger and self._urgent is not None:
                self._urgent.set()

    def _keep(self, items: Sequence[_Pending], front: bool = False) -> None:
        """Spool items (their callers are told the commit is deferred); without a spool, requeue."""
        deferred = CommitDeferredError("the store is unavailable; the events are kept")
        if self._spool is None:  # kept in memory only (tools and tests run without a spool)
            for item in reversed(items) if front else items:
                self._finish(item, deferred, [], deferred=True)
                item.future = None
                if front:
                    self._pending.appendleft(item)
                else:
                    self._pending.append(item)
                self._pending_events += len(item.events)
            return
        records: list[Record] = []
        for item in items:
            stored = self._encoded(item)
            if stored is None:
                continue
            records.extend((item.app, s) for s in stored)
        if front:
            self._spool.prepend(records)
        else:
            self._spool.append(records)
        for item in items:
            self._finish(item, deferred, [], deferred=True)
        if self._wake is not None:
            self._wake.set()

    def _encoded(self, item: _Pending) -> list[StoredEvent] | None:
        if item.stored is None:
            mapper = self._store.apps[item.app].mapper
            try:
                item.stored = [mapper.to_stored_event(e) for e in item.events]
            except Exception as error:  # an event that cannot be encoded can never be stored
                log.error(
                    "event not recordable, dropped: %s: %s", describe_events(item.events), error
                )
                self._finish(item, error, [])
                return None
        return item.stored

    # -- the loop ------------------------------------------------------------------------

    async def _run(self) -> None:
        if self._wake is None or self._urgent is None:  # pragma: no cover - set by start()
            return
        retry = 0.05
        while True:
            if self._spooled():
                if await self._drain_spool():
                    retry = 0.05
                else:
                    await asyncio.sleep(retry)
                    retry = min(retry * 2, self._retry_max)
                continue
            if not self._pending:
                self._wake.clear()
                idle = retry if self._down_since is not None else self._ping_every
                try:
                    await asyncio.wait_for(self._wake.wait(), idle)
                except TimeoutError:
                    if not await self._ping():
                        retry = min(retry * 2, self._retry_max)
                    continue
            if self._down_since is not None and not await self._ping():  # wait for the store
                await asyncio.sleep(retry)
                retry = min(retry * 2, self._retry_max)
                continue
            retry = 0.05
            if all(item.linger for item in self._pending):
                self._urgent.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), self._linger)
            batch, size = [], 0
            while self._pending and size < self._max:
                item = self._pending.popleft()
                batch.append(item)
                size += len(item.events)
            self._pending_events -= size
            apps = [app for app in ("governance", "usage") if any(i.app == app for i in batch)]
            for index, app in enumerate(apps):
                group = [item for item in batch if item.app == app]
                if not await self._commit(app, group):
                    later = [item for item in batch if item.app in apps[index + 1 :]]
                    waiting = list(self._pending)
                    self._pending.clear()
                    self._pending_events = 0
                    # Older than anything spooled meanwhile (a stall spills to disk): in front.
                    self._keep([*group, *later, *waiting], front=self._spooled())
                    break

    async def _ping(self) -> bool:
        """Ask the store whether it answers (idle, or after a failure)."""
        try:
            await self._commits.ping_async("usage")
        except Exception as error:  # still down
            self._went_down(error)
            return False
        self._warm = True
        self._last_answer = self._clock()
        self.stats.healthy = True
        self._came_back()
        return True

    async def _insert(self, app: str, stored: list[StoredEvent]) -> Sequence[int]:
        self._in_flight_since = self._clock()
        self._in_flight_events = len(stored)
        try:
            ids = await self._commits.insert_async(app, stored) if stored else []
        finally:
            self._in_flight_since = None
            self._in_flight_events = 0
        self._warm = True
        self._last_answer = self._clock()
        return ids

    async def _commit(self, app: str, group: list[_Pending]) -> bool:
        """Commit a group; False if the store could not take it (nothing was finished)."""
        group = [item for item in group if self._encoded(item) is not None]
        stored = [s for item in group for s in item.stored or []]
        started = time.perf_counter()
        try:
            ids = await self._insert(app, stored)
        except IntegrityError:
            if len(group) == 1:
                self._finish(group[0], DuplicateEventError(describe_events(group[0].events)), [])
                return True
            for index, item in enumerate(group):  # find the one that clashed; the rest alone
                if not await self._commit(app, [item]):
                    self._keep(group[index:], front=self._spooled())
                    return True
            return True
        except Exception as error:  # the store is down or refused: keep these for later
            self._went_down(error)
            return False
        self._committed(app, stored, ids, time.perf_counter() - started)
        for item, share in zip(group, split_ids([len(i.events) for i in group], ids), strict=True):
            self._finish(item, None, share)
        return True

    def _committed(
        self, app: str, stored: Sequence[object], ids: Sequence[int], took: float
    ) -> None:
        self.stats.committed(len(stored), took)
        self._came_back()
        for listener in self.listeners:
            listener(app, ids, took)

    async def _insert_new(self, app: str, stored: list[StoredEvent]) -> list[int]:
        """Insert what the store does not hold yet, in order. Those committed before a crash
        or a lost reply are few and side by side (the batch in flight): a clash halves the
        batch, so k of them among n cost about 2k log n round trips, not n."""
        try:
            return list(await self._insert(app, stored))
        except IntegrityError:
            if len(stored) == 1:
                return []
        half = len(stored) // 2
        first = await self._insert_new(app, stored[:half])
        return first + await self._insert_new(app, stored[half:])

    async def _drain_spool(self) -> bool:
        """Commit the spool's oldest records; False if the store is still down."""
        if self._spool is None:  # pragma: no cover - only called while spooled
            return True
        chunk = self._spool.peek(self._max)
        app = chunk[0][0]
        stored = [s for _, s in chunk]
        started = time.perf_counter()
        try:
            ids = await self._insert_new(app, stored)
        except Exception as error:
            self._went_down(error)
            return False
        self._spool.advance(len(chunk))
        self._recovered += len(chunk)
        self._committed(app, stored, ids, time.perf_counter() - started)
        return True

    @staticmethod
    def _finish(
        item: _Pending, error: BaseException | None, ids: Sequence[int], deferred: bool = False
    ) -> None:
        if item.future is not None:
            if not item.future.done():
                if error is not None:
                    item.future.set_exception(error)
                else:
                    item.future.set_result(ids)
            return
        if item.done is not None and not deferred:
            try:
                item.done(error, ids)
            except Exception:  # a caller's callback must not stop the writer
                log.exception("writer callback failed")


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
