"""Leased allotments, the I/O side: books read and appended in the store, off the hot path.

Every store operation runs on one thread of its own (never on the event loop); the loop only
folds the results into the usage state. A grant is the book's next version: if another
instance appended that version first, the store refuses this one (IntegrityError), and the
book is read again and the grant decided again. Nothing here is spooled: a grant the store
did not take was never made. Rate limits' books (`rate:` keys) take the same path with their
own fold (`proxy/enforcement/rate_allotment.py`): no lease or expiry, units lapse by time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from eventsourcing.persistence import IntegrityError

from govledger.ledger import events as ev
from govledger.ledger.clock import Clock
from govledger.ledger.store import Store, StoreUnavailableError, without_retries
from govledger.projections.rate_grants import RateGrants, is_rate_book, rate_terms
from govledger.projections.usage_state import UsageState
from govledger.proxy.enforcement.admission import Shortfall
from govledger.proxy.enforcement.allotment import (
    ZERO,
    Book,
    Sizing,
    SpendRate,
    ask_ahead,
    book_id,
    expiries,
    grant_amount,
    unused,
)
from govledger.proxy.enforcement.rate_allotment import RateBook, grant_units
from govledger.proxy.server.members import Member, Membership
from govledger.proxy.server.statement_bound import StatementBound

log = logging.getLogger("govledger.allotments")
T = TypeVar("T")
Key = tuple[str, str]  # (budget, period)
RETRIES = 16  # appends lost to another instance before a grant gives up
TICK_S = 0.25  # how often spend rates are sampled and grants asked for ahead
SAFETY_S = 1.0  # own grants stop being used this long before the others may expire them
RATE_USE_S = 2.0  # a rate limit's granted units are usable this long after their grant


@dataclass
class AllotterStats:
    """What `/metrics` and `status` show of this process's allotments."""

    granted: int = 0
    returned: int = 0
    expired: int = 0
    conflicts: int = 0  # appends another instance's append beat
    members_alive: int = 1
    members: list[Member] = field(default_factory=list)


class Allotter:
    """This process as a holder: asks for allotments ahead of need, tops them up when a
    request finds them short, returns them at a clean stop, heartbeats and expires the dead."""

    def __init__(
        self,
        store: Store,
        usage: UsageState,
        membership: Membership,
        holder: str,
        clock: Clock,
        lease_s: float,
        sizing: Sizing | None = None,
        rate_use_s: float = RATE_USE_S,
        timeout_s: float = 1.0,
    ) -> None:
        self.store = store
        self.books = BookStore(store, timeout_s)
        self.usage = usage
        self.membership = membership
        self.holder = holder
        self.clock = clock
        self.lease_s = lease_s
        self.sizing = sizing or Sizing()
        self.rate_use_s = rate_use_s
        self._rate_books: dict[Key, RateBook] = {}  # only touched on the store thread
        self.stats = AllotterStats()
        self._books: dict[Key, Book] = {}  # only touched on the store thread
        self._limits: dict[Key, Decimal] = {}
        self._openings: dict[Key, Decimal] = {}
        self._rates: dict[Key, SpendRate] = {}
        self._demand: dict[Key, Decimal] = {}
        self._least: dict[Key, Decimal] = {}
        self._next: dict[Key, asyncio.Future[bool]] = {}
        self._running: set[Key] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._round_tasks: set[asyncio.Task[None]] = set()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="govledger-allotments")
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- life ----------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """First heartbeat (so own grants may be used), then the background tasks."""
        self._loop = loop
        self.usage.lease_until = 0.0  # nothing is usable before a heartbeat is recorded
        try:
            self._beat_now()
        except Exception as error:  # the heartbeat task retries
            log.warning("first heartbeat failed: %s", _line(error))
        self._tasks = [loop.create_task(self._ticks()), loop.create_task(self._heartbeats())]

    async def close(self) -> None:
        """Return what is unused (after the writer drained), record the stop, end the thread."""
        tasks = [*self._tasks, *self._round_tasks]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            await self._run(self._return_all, "shutdown")
            await self._run(self.membership.stopped)
        except Exception as error:  # the lease expires by itself: nothing is lost for long
            log.warning("allotments not returned at stop: %s", _line(error))
        await self._run(self.membership.close)
        await self._run(self.books.close)
        self._thread.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, fn, *args)

    # -- the hot path's one call ---------------------------------------------------------

    async def top_up(self, shortfall: Shortfall) -> bool:
        """Ask for at least `shortfall.deficit` more; True if a grant was made (the caller
        decides again), False if the whole budget is spent, reserved or held elsewhere."""
        key = (shortfall.budget, shortfall.period)
        self._limits[key] = shortfall.limit
        self._openings.setdefault(key, shortfall.opening)
        self._demand[key] = self._demand.get(key, ZERO) + shortfall.deficit
        least = self._least.get(key)
        self._least[key] = shortfall.deficit if least is None else min(least, shortfall.deficit)
        return await asyncio.shield(self._round(key))

    def _round(self, key: Key) -> asyncio.Future[bool]:
        future = self._next.get(key)
        if future is None:
            loop = asyncio.get_running_loop()
            future = self._next[key] = loop.create_future()
        if key not in self._running:
            self._running.add(key)
            task = asyncio.get_running_loop().create_task(self._rounds(key))
            self._round_tasks.add(task)  # held until done (the loop keeps only weak ones)
            task.add_done_callback(self._round_tasks.discard)
        return future

    async def _rounds(self, key: Key) -> None:
        """One grant at a time per budget period; callers that arrive meanwhile wait for the
        next one, sized for all of them."""
        try:
            while key in self._next:
                future = self._next.pop(key)
                deficit = self._least.pop(key, ZERO)
                demand = self._demand.pop(key, ZERO)
                try:
                    granted = await self._grant(key, deficit, demand)
                except Exception as error:  # the store did not answer: nothing was granted
                    log.warning("allotment not granted: %s", _line(error))
                    granted = False
                if not future.done():
                    future.set_result(granted)
        finally:
            self._running.discard(key)

    async def _grant(self, key: Key, deficit: Decimal, demand: Decimal) -> bool:
        if is_rate_book(key[0]):
            return await self._rate_grant(key, int(deficit), int(demand))
        if self.clock.now().timestamp() > self.usage.lease_until:
            # The lease lapsed (the store was away past it): what this holder holds is not
            # usable until a heartbeat renews it, so renew it before asking for more.
            await self._run(self._beat_now)
        rate = self._rates.setdefault(key, SpendRate()).rate
        members = self.stats.members_alive
        amount = await self._run(
            self._grant_on_store, key, self._limits[key], deficit, demand, rate, members
        )
        if amount > ZERO:
            self.usage.allot(key[0], key[1], amount)
            return True
        if deficit > ZERO:  # too little is free: what this holder cannot use goes back
            self._give_back(key, "too_small")
        return False

    async def _rate_grant(self, key: Key, deficit: int, demand: int) -> bool:
        """A grant of a rate limit's shared book (no lease: its units lapse by themselves)."""
        members = self.stats.members_alive
        rate = self._rates.setdefault(key, SpendRate()).rate  # units per second taken here
        ahead = int(rate * Decimal(str(self.rate_use_s / 2)))
        version, units, at = await self._run(
            self._rate_grant_on_store, key, deficit, demand, members, ahead
        )
        if units <= 0:  # `at`: when the book would grant the deficit
            self.usage.rate_ready[key] = at
            return False
        grants = self.usage.rate_grants.setdefault(key, RateGrants())
        grants.add(version, units, at + self.rate_use_s)
        return True

    def _give_back(self, key: Key, reason: str) -> None:
        held, spent = self.usage.allotted.get(key, ZERO), self._spent(key)
        amount = unused(held, spent)
        if amount <= ZERO:
            return
        self.usage.allot(key[0], key[1], -amount)  # before the append: never used meanwhile
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._thread, self._return_on_store, key, amount, reason)

        def done(result: asyncio.Future[bool]) -> None:
            if result.exception() is not None or not result.result():
                self.usage.allot(key[0], key[1], amount)  # not recorded: still held

        future.add_done_callback(done)

    def _spent(self, key: Key) -> Decimal:
        return self.usage.spend_by.get((key[0], key[1], self.holder), ZERO)

    # -- background ----------------------------------------------------------------------

    async def _ticks(self) -> None:
        """Sample each held budget's spend rate; ask ahead of need when it runs low."""
        while True:
            await asyncio.sleep(TICK_S)
            at = self.clock.monotonic()
            self._rate_lapses()
            for key, held in list(self.usage.allotted.items()):
                if key not in self._limits:
                    continue
                spent = self._spent(key)
                rate = self._rates.setdefault(key, SpendRate()).observe(spent, at)
                if key not in self._running and ask_ahead(unused(held, spent), rate, self.sizing):
                    self._demand.setdefault(key, ZERO)
                    self._least.setdefault(key, ZERO)
                    self._round(key)

    def _rate_lapses(self) -> None:
        """Give back the unused units of rate grants whose use time ended; sample each rate
        book's use and ask ahead when what is usable covers less than `low_water_s`."""
        now, at = self.clock.now().timestamp(), self.clock.monotonic()
        for key, grants in list(self.usage.rate_grants.items()):
            due = grants.lapsed(now)
            if due:
                self._thread.submit(self._return_rate_on_store, key, due, "lapsed")
            rate = self._rates.setdefault(key, SpendRate()).observe(Decimal(grants.used), at)
            usable = Decimal(grants.usable(now))
            if key not in self._running and ask_ahead(usable, rate, self.sizing):
                self._demand.setdefault(key, ZERO)
                self._least.setdefault(key, ZERO)
                self._round(key)

    async def _heartbeats(self) -> None:
        """Heartbeat every quarter lease; expire the leases of members no longer seen."""
        while True:
            await asyncio.sleep(self.lease_s / 4)
            try:
                await self._run(self._beat_now)
                await self._expire_dead()
            except Exception as error:  # own grants stop being usable when the lease runs out
                log.warning("heartbeat failed: %s", _line(error))

    def _beat_now(self) -> None:
        sent = self.clock.now().timestamp()
        self.membership.beat()
        members = self.membership.members()
        live = [m for m in members if m.alive]
        self.stats.members = members
        self.stats.members_alive = max(len(live), 1)
        until = sent + self.lease_s - SAFETY_S
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._set_lease, until)
        else:
            self._set_lease(until)

    def _set_lease(self, until: float) -> None:
        self.usage.lease_until = max(self.usage.lease_until, until)

    async def _expire_dead(self) -> None:
        live = {m.holder for m in self.stats.members if m.alive}
        keys = {
            (b, p) for (b, p, h) in self.usage.first_grant if h not in live and not is_rate_book(b)
        }
        if not keys:
            return
        spend = dict(self.usage.spend_by)
        first = dict(self.usage.first_grant)
        expired = await self._run(self._expire_on_store, keys, live, spend, first)
        self.stats.expired += expired

    # -- on the store thread -------------------------------------------------------------

    def _book(self, key: Key) -> Book:
        """The book as the store has it now (read from the last version known)."""
        book = self._books.get(key)
        if book is None:
            book = self._books[key] = Book(*key)
        for event in self.books.read(book_id(*key), book.version):
            if isinstance(event, ev.AllotmentGranted):
                book.granted(event.holder, event.amount, event.opening)
            elif isinstance(event, ev.AllotmentReturned | ev.AllotmentExpired):
                book.returned(event.holder, event.amount, isinstance(event, ev.AllotmentExpired))
        return book

    def _rate_book(self, key: Key) -> RateBook:
        """A rate limit's book as the store has it now (read from the last version known)."""
        book = self._rate_books.get(key)
        if book is None:  # cold: from the last event's TAT, not folded from version 1
            book = RateBook(*rate_terms(key[1]))
            last = self.books.read_last(book_id(*key))
            if isinstance(last, ev.AllotmentGranted | ev.AllotmentReturned) and last.tat:
                book.version, book.tat = last.originator_version, last.tat
            self._rate_books[key] = book
        for event in self.books.read(book_id(*key), book.version):
            if isinstance(event, ev.AllotmentGranted):
                book.granted(int(event.amount), event.timestamp.timestamp())
            elif isinstance(event, ev.AllotmentReturned):
                book.returned(event.grant, int(event.amount))
            else:  # expiries are not recorded on rate books
                book.version += 1
        book.prune(self.clock.now().timestamp(), self.rate_use_s)
        return book

    def _rate_grant_on_store(
        self, key: Key, deficit: int, demand: int, members: int, ahead: int
    ) -> tuple[int, int, float]:
        """(version, units, time) of a grant made, or (0, 0, when it would be granted)."""
        for _ in range(RETRIES):
            book = self._rate_book(key)
            now = self.clock.now()
            at = now.timestamp()
            units = grant_units(book, at, deficit, demand, members, ahead)
            if units <= 0:
                return 0, 0, book.ready_at(max(deficit, 1), at)
            event = ev.AllotmentGranted(
                originator_id=book_id(*key),
                originator_version=book.version + 1,
                timestamp=now,
                budget=key[0],
                period=key[1],
                holder=self.holder,
                amount=Decimal(units),
                opening=ZERO,
                limit=Decimal(book.capacity),
                members=members,
                tat=book.tat_granted(units, at),
            )
            if self._append(event):
                book.granted(units, at)
                self.stats.granted += 1
                return book.version, units, at
        log.warning("gave up on %s after %d conflicting appends", key, RETRIES)
        return 0, 0, self.clock.now().timestamp() + 1.0

    def _return_rate_on_store(self, key: Key, due: dict[int, int], reason: str) -> None:
        """Give back unused units of rate grants (lost if the store refuses: the TAT drains)."""
        try:
            for grant, units in due.items():
                for _ in range(RETRIES):
                    book = self._rate_book(key)
                    event = ev.AllotmentReturned(
                        originator_id=book_id(*key),
                        originator_version=book.version + 1,
                        timestamp=self.clock.now(),
                        budget=key[0],
                        period=key[1],
                        holder=self.holder,
                        amount=Decimal(units),
                        reason=reason,
                        grant=grant,
                        tat=book.tat_returned(grant, units),
                    )
                    if self._append(event):
                        book.returned(grant, units)
                        self.stats.returned += 1
                        break
        except Exception as error:  # nothing is overspent: the book keeps them until it drains
            log.warning("rate units not given back: %s", _line(error))

    def _append(self, event: ev.AllotmentEvent) -> bool:
        """True if the store took the event as the book's next version."""
        try:
            self.books.append(event)
        except IntegrityError:
            self.stats.conflicts += 1
            return False
        return True

    def _attempts(self, key: Key) -> Iterator[Book]:
        for _ in range(RETRIES):
            yield self._book(key)
        log.warning("gave up on %s after %d conflicting appends", key, RETRIES)

    def _grant_on_store(
        self,
        key: Key,
        limit: Decimal,
        deficit: Decimal,
        demand: Decimal,
        rate: Decimal,
        members: int,
    ) -> Decimal:
        for book in self._attempts(key):
            opening = self._openings.get(key, ZERO) if book.version == 0 else book.opening
            amount = grant_amount(
                book, limit, self.holder, deficit, demand, rate, members, self.sizing, opening
            )
            if amount <= ZERO:
                return ZERO
            event = ev.AllotmentGranted(
                originator_id=book_id(*key),
                originator_version=book.version + 1,
                timestamp=self.clock.now(),
                budget=key[0],
                period=key[1],
                holder=self.holder,
                amount=amount,
                opening=opening,
                limit=limit,
                members=members,
            )
            if self._append(event):
                book.granted(self.holder, amount, opening)
                self.stats.granted += 1
                return amount
        return ZERO

    def _return_on_store(self, key: Key, amount: Decimal, reason: str) -> bool:
        for book in self._attempts(key):
            event = ev.AllotmentReturned(
                originator_id=book_id(*key),
                originator_version=book.version + 1,
                timestamp=self.clock.now(),
                budget=key[0],
                period=key[1],
                holder=self.holder,
                amount=amount,
                reason=reason,
            )
            if self._append(event):
                book.returned(self.holder, amount, expired=False)
                self.stats.returned += 1
                return True
        return False

    def _return_all(self, reason: str) -> None:
        for rate_key, grants in list(self.usage.rate_grants.items()):
            self._return_rate_on_store(rate_key, grants.release(), reason)
        for key, held in list(self.usage.allotted.items()):
            amount = unused(held, self._spent(key))
            if amount > ZERO and self._return_on_store(key, amount, reason):
                self.usage.allot(key[0], key[1], -amount)

    def _expire_on_store(
        self,
        keys: set[Key],
        live: set[str],
        spend: dict[tuple[str, str, str], Decimal],
        first: dict[tuple[str, str, str], int],
    ) -> int:
        expired = 0
        for key in keys:
            for book in self._attempts(key):
                known: dict[str, Decimal | None] = {}
                for holder, version in book.first.items():
                    seen = first.get((key[0], key[1], holder))
                    full = seen is not None and seen == version  # every spend folded here
                    known[holder] = spend.get((key[0], key[1], holder), ZERO) if full else None
                due = expiries(book, live | {self.holder}, known)
                if not due:
                    break
                holder, amount = next(iter(due.items()))
                event = ev.AllotmentExpired(
                    originator_id=book_id(*key),
                    originator_version=book.version + 1,
                    timestamp=self.clock.now(),
                    budget=key[0],
                    period=key[1],
                    holder=holder,
                    amount=amount,
                    recorded_by=self.holder,
                )
                if self._append(event):
                    book.returned(holder, amount, expired=True)
                    expired += 1
        return expired


class BookStore:
    """The books' own connection to the store, used only on the allotter's thread.

    Not the server's pool: after the store restarts, its idle connections are dead, the
    library's recorder retries each call ten times 0.2 s apart, and the pool reconnects in the
    background with a backoff that grew during the outage, so the first grants after the
    store's return waited out the 2 s allotment wait. Here each call is one attempt with a
    short connect timeout; a connection that fails is dropped at once, and a call that failed
    on a connection opened before is tried once more on a fresh one (the stale one was dead).
    Each call is bounded by `timeout_s` (`StatementBound`): a call that runs over, on a slow
    or a frozen store, is ended and not tried again.
    """

    def __init__(self, server_store: Store, timeout_s: float = 1.0, connect_timeout: int = 1):
        self.url = server_store.url.raw
        self.connect_timeout = connect_timeout
        self.bound = StatementBound(timeout_s)
        self._shared = server_store.url.scheme != "postgresql"  # SQLite: one file, no pool
        self._store: Store | None = server_store if self._shared else None

    def _usage(self) -> Store:
        if self._store is None:
            self._store = Store(
                self.url,
                create_tables=False,
                connect_timeout=self.connect_timeout,
                pool_size=1,
                max_overflow=0,
            )
            self._bind(self._store)
        return self._store

    def _bind(self, store: Store) -> None:
        """Bound the books' connection: the server ends a statement at the bound, the
        client shuts the socket if the server does not (frozen), and connecting waits at
        most the connect timeout (the library's pool connects without one)."""
        pool = store.usage.recorder.datastore.pool  # type: ignore[attr-defined]
        options = {"options": self.bound.options, "connect_timeout": self.connect_timeout}
        pool.kwargs = {**pool.kwargs, **options}
        configure = pool._configure
        bound = self.bound

        def watched(connection: Any) -> None:
            bound.watch(connection)
            if configure is not None:
                configure(connection)

        pool._configure = watched
        with pool.connection(timeout=self.connect_timeout) as connection:  # opened already
            bound.watch(connection)  # (inside the caller's bound: a frozen store is cut too)
            connection.execute(f"SET statement_timeout = {bound.milliseconds}")

    def _call(self, work: Callable[[Store], T]) -> T:
        if self._shared:
            return work(self._usage())
        for _ in range(2):
            fresh = self._store is None
            try:
                with self.bound.call():
                    return work(self._usage())
            except IntegrityError:
                raise
            except Exception:
                self.close()
                if self.bound.cut:  # the store did not answer in time: not a stale connection
                    raise StoreUnavailableError(
                        f"the store did not answer within {self.bound.seconds:g} s"
                    ) from None
                if fresh:
                    raise
        raise StoreUnavailableError("the store did not answer")  # pragma: no cover

    def read(self, originator: Any, after: int) -> list[Any]:
        """The book's events after a version."""

        def work(store: Store) -> list[Any]:
            recorder = store.usage.recorder
            stored = without_retries(type(recorder).select_events)(recorder, originator, gt=after)
            return [store.usage.mapper.to_domain_event(s) for s in stored]

        return self._call(work)

    def read_last(self, originator: Any) -> Any | None:
        """The stream's last event (None if it has none)."""

        def work(store: Store) -> Any | None:
            recorder = store.usage.recorder
            select = without_retries(type(recorder).select_events)
            stored = select(recorder, originator, desc=True, limit=1)
            return store.usage.mapper.to_domain_event(stored[0]) if stored else None

        return self._call(work)

    def append(self, event: ev.AllotmentEvent) -> None:
        """Record one event as its book's next version (IntegrityError if it was taken)."""

        def work(store: Store) -> None:
            recorder = store.usage.recorder
            stored = store.usage.mapper.to_stored_event(event)
            without_retries(type(recorder).insert_events)(recorder, [stored])

        self._call(work)

    def close(self) -> None:
        """Drop the connection (a fresh one is opened on the next call)."""
        if self._shared:
            return
        store, self._store = self._store, None
        if store is not None:
            with contextlib.suppress(Exception):
                # Not waiting for the pool's worker: it may be connecting to a frozen store.
                store.usage.recorder.datastore.pool.close(timeout=0)  # type: ignore[attr-defined]
                store.close()


def _line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:200]
