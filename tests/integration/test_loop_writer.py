"""The event-loop writer on a real store, through the commit process."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import uvloop
from eventsourcing.persistence import StoredEvent

from govledger.ledger.commit_bookkeeping import DuplicateEventError
from govledger.ledger.commit_process import CommitFailedError, CommitProcess
from govledger.ledger.loop_writer import STALL_PER_EVENT_S, CommitDeferredError, LoopWriter
from govledger.ledger.spool import Spool, commit_spool
from govledger.ledger.store import Store
from tests.integration.workload import Requests


@pytest.fixture
def commits(store_url: str, store: Store) -> Iterator[CommitProcess]:
    """A started commit process on the test's store."""
    process = CommitProcess(store_url)
    process.start()
    yield process
    process.stop()


async def test_many_concurrent_appends_share_few_commits(
    store: Store, commits: CommitProcess
) -> None:
    writer = LoopWriter(store, commits, max_batch_events=500)
    writer.start(asyncio.get_running_loop())
    requests = Requests(seed=7)
    events = [requests.admitted() for _ in range(200)]
    ids = await asyncio.gather(*(writer.append("usage", [event]) for event in events))
    await writer.close()
    assert sorted(i for batch in ids for i in batch) == list(range(1, 201))
    assert writer.stats.events == 200
    assert writer.stats.batches < 20
    stored = [event for _, event in store.iterate("usage")]
    assert [e.originator_id for e in stored] == [e.originator_id for e in events]


async def test_a_lingering_append_shares_the_commit_of_the_awaited_one(
    store: Store, commits: CommitProcess
) -> None:
    writer = LoopWriter(store, commits, linger_seconds=0.5)
    writer.start(asyncio.get_running_loop())
    requests = Requests(seed=8)
    reported: list[Sequence[int]] = []
    writer.submit("usage", [requests.admitted()], lambda _e, ids: reported.append(ids), linger=True)
    await writer.append("usage", [requests.settled()])
    await writer.close()
    assert reported == [[1]]
    assert writer.stats.batches == 1


async def test_a_duplicate_fails_alone_and_the_rest_of_its_batch_commits(
    store: Store, commits: CommitProcess
) -> None:
    writer = LoopWriter(store, commits)
    writer.start(asyncio.get_running_loop())
    requests = Requests(seed=9)
    first = requests.admitted()
    await writer.append("usage", [first])
    other = requests.admitted()
    results = await asyncio.gather(
        writer.append("usage", [first]), writer.append("usage", [other]), return_exceptions=True
    )
    await writer.close()
    assert isinstance(results[0], DuplicateEventError)
    assert isinstance(results[1], list) and len(results[1]) == 1
    stored = [event.originator_id for _, event in store.iterate("usage")]
    assert stored == [first.originator_id, other.originator_id]


async def test_append_sync_from_another_thread_waits_for_its_commit(
    store: Store, commits: CommitProcess
) -> None:
    writer = LoopWriter(store, commits)
    writer.start(asyncio.get_running_loop())
    requests = Requests(seed=10)
    found: list[Sequence[int]] = []
    thread = threading.Thread(
        target=lambda: found.append(writer.append_sync("usage", [requests.admitted()]))
    )
    thread.start()
    while thread.is_alive():
        await asyncio.sleep(0.01)
    await writer.close()
    assert found == [[1]]


async def test_a_store_that_is_down_defers_the_append_and_spools_it(
    tmp_path: Path, store: Store
) -> None:
    commits = CommitProcess("postgresql://postgres@127.0.0.1:1/none")
    commits.start()
    spool = Spool(tmp_path / "spool.jsonl")
    writer = LoopWriter(store, commits, spool)
    writer.start(asyncio.get_running_loop())
    event = Requests(seed=11).admitted()
    with pytest.raises(CommitDeferredError):
        await writer.append("usage", [event])
    assert writer.accepting() is False
    await writer.close()
    commits.stop()
    assert writer.stats.failures >= 1
    [(app, stored)] = Spool(tmp_path / "spool.jsonl").peek(10)
    assert (app, stored.originator_id) == ("usage", event.originator_id)


class Outage(CommitProcess):
    """The real commit process, behind a switch that makes the store look down."""

    down = False

    async def insert_async(self, app: str, stored: Sequence[StoredEvent]) -> Sequence[int]:
        if self.down:
            raise CommitFailedError("OperationalError: connection refused")
        return await super().insert_async(app, stored)

    async def ping_async(self, app: str) -> None:
        if self.down:
            raise CommitFailedError("OperationalError: connection refused")
        await super().ping_async(app)


@pytest.fixture
def outage(store_url: str, store: Store) -> Iterator[Outage]:
    """A started commit process whose store can be switched off."""
    process = Outage(store_url)
    process.start()
    yield process
    process.stop()


async def test_events_of_an_outage_are_committed_in_order_when_the_store_returns(
    tmp_path: Path, store: Store, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path / "spool.jsonl")
    writer = LoopWriter(store, outage, spool, ping_every_s=0.05, retry_max_s=0.05)
    writer.start(asyncio.get_running_loop())
    requests = Requests(seed=12)
    before = requests.admitted()
    await writer.append("usage", [before])
    outage.down = True
    during = []
    for _ in range(30):  # admissions and settlements interleaved, as requests finish
        admitted = requests.admitted()
        writer.submit("usage", [admitted], lambda _e, _i: None, linger=True)
        with pytest.raises(CommitDeferredError):
            await writer.append("usage", [requests.settled(str(admitted.originator_id))])
        during.append(admitted.originator_id)
    assert writer.accepting() is False
    assert len(spool) == 60
    outage.down = False
    for _ in range(200):
        if writer.accepting():
            break
        await asyncio.sleep(0.01)
    assert writer.accepting() is True
    after = requests.admitted()
    await writer.append("usage", [after])
    await writer.close()
    stored = [(type(e).__name__, e.originator_id) for _, e in store.iterate("usage")]
    assert len(stored) == 62 and len(set(stored)) == 62
    assert stored[0][1] == before.originator_id and stored[-1][1] == after.originator_id
    seen: set[object] = set()
    for name, rid in stored:  # every settlement follows its admission
        if name == "RequestSettled":
            assert rid in seen
        seen.add(rid)
    assert not (tmp_path / "spool.jsonl").exists()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2, warnings
    assert "unavailable" in warnings[0] and "answers again" in warnings[1]
    assert "60 kept event(s) committed" in warnings[1]


class Counting(CommitProcess):
    """The real commit process, counting the inserts the writer asks of it."""

    inserts = 0

    async def insert_async(self, app: str, stored: Sequence[StoredEvent]) -> Sequence[int]:
        self.inserts += 1
        return await super().insert_async(app, stored)


async def test_a_spool_whose_oldest_events_were_committed_drains_in_few_round_trips(
    tmp_path: Path, store_url: str, store: Store
) -> None:
    """The batch in flight when the store died was committed, its reply lost: the spool's
    first events clash. Inserted one by one, 260 kept events took 2 s after a restart."""
    requests = Requests(seed=16)
    events = [requests.admitted() for _ in range(256)]
    mapper = store.apps["usage"].mapper
    records = [("usage", mapper.to_stored_event(e)) for e in events]
    store.apps["usage"].recorder.insert_events([s for _, s in records[:8]])  # reply lost
    spool = Spool(tmp_path / "spool.jsonl")
    spool.append(records)
    commits = Counting(store_url)
    commits.start()
    try:
        writer = LoopWriter(store, commits, spool, ping_every_s=0.05, retry_max_s=0.05)
        writer.start(asyncio.get_running_loop())
        for _ in range(500):
            if writer.accepting():
                break
            await asyncio.sleep(0.01)
        await writer.close()
    finally:
        commits.stop()
    stored = [e.originator_id for _, e in store.iterate("usage")]
    assert stored == [e.originator_id for e in events]  # each once, in order
    assert commits.inserts < 40  # halving: 25 here; one by one it was 1 + 256


async def test_a_spool_left_by_a_crash_is_committed_once_at_start(
    tmp_path: Path, store: Store
) -> None:
    requests = Requests(seed=13)
    events = [requests.admitted() for _ in range(5)]
    mapper = store.apps["usage"].mapper
    records = [("usage", mapper.to_stored_event(e)) for e in events]
    store.apps["usage"].recorder.insert_events([records[0][1]])  # committed before the crash
    Spool(tmp_path / "spool.jsonl").append(records)
    with (tmp_path / "spool.jsonl").open("ab") as torn:
        torn.write(b'{"app": "usage", "id"')  # a line cut by kill -9

    assert commit_spool(store, Spool(tmp_path / "spool.jsonl")) == 4

    stored = [e.originator_id for _, e in store.iterate("usage")]
    assert stored == [e.originator_id for e in events]
    assert not (tmp_path / "spool.jsonl").exists()


def test_a_batch_larger_than_the_pipe_buffer_commits_under_uvloop(
    store_url: str, store: Store
) -> None:
    """uvloop's add_reader makes the pipe non-blocking: a big batch once failed with EAGAIN."""
    commits = CommitProcess(store_url)
    commits.start()
    requests = Requests(seed=14)
    events = [requests.admitted() for _ in range(3000)]  # ~3 MB pickled, far above 200 KiB

    async def scenario() -> list[Sequence[int]]:
        writer = LoopWriter(store, commits, max_batch_events=3000, linger_seconds=0.05)
        writer.start(asyncio.get_running_loop())
        await writer.append("usage", events[:1])  # the reader was added once already
        done = await asyncio.gather(*(writer.append("usage", [e]) for e in events[1:]))
        await writer.close()
        return done

    loop = uvloop.new_event_loop()
    try:
        done = loop.run_until_complete(scenario())
    finally:
        loop.close()
    pid = commits._process.pid
    commits.stop()
    assert len(done) == 2999
    assert store.max_position("usage") == 3000
    assert pid  # one child served it all: no second process was started


class Stall(CommitProcess):
    """The real commit process, whose inserts wait at a gate while it is closed (a hung store)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.gate = asyncio.Event()
        self.gate.set()

    async def insert_async(self, app: str, stored: Sequence[StoredEvent]) -> Sequence[int]:
        await self.gate.wait()
        return await super().insert_async(app, stored)


class ManualClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.at = 1000.0

    def __call__(self) -> float:
        return self.at


@pytest.fixture
def stall(store_url: str, store: Store) -> Iterator[Stall]:
    """A started commit process whose inserts can be held."""
    process = Stall(store_url)
    process.start()
    yield process
    process.stop()


async def in_flight(writer: LoopWriter, events: int) -> None:
    """Wait (bounded) until a commit of `events` events is waiting at the gate."""
    for _ in range(500):
        if writer._in_flight_events == events:
            return
        await asyncio.sleep(0.002)
    raise AssertionError(f"no commit of {events} event(s) in flight")


async def test_a_big_batch_may_wait_longer_before_it_counts_as_a_stall(
    store: Store, stall: Stall
) -> None:
    clock = ManualClock()
    writer = LoopWriter(store, stall, stall_after_s=1.0, clock=clock, linger_seconds=0.05)
    writer.start(asyncio.get_running_loop())
    requests = Requests(seed=15)
    await writer.append("usage", [requests.admitted()])  # the child is warm
    stall.gate.clear()
    for _ in range(400):  # one batch of 400 (they linger together)
        writer.submit("usage", [requests.admitted()], lambda _e, _i: None, linger=True)
    await in_flight(writer, 400)
    clock.at += 1.0 + 400 * STALL_PER_EVENT_S - 0.01
    assert writer.accepting() is True  # 1.19 s for 400 events: still a slow commit
    clock.at += 0.02
    assert writer.accepting() is False  # past 1 s + 0.2 s: a stall
    stall.gate.set()
    for _ in range(500):
        if writer.accepting():
            break
        await asyncio.sleep(0.002)
    await writer.close()
    assert writer.accepting() is True
    assert store.max_position("usage") == 401


async def test_a_stall_spills_what_waits_to_the_spool_and_loses_no_order(
    tmp_path: Path, store: Store, stall: Stall
) -> None:
    spool = Spool(tmp_path / "spool.jsonl")
    writer = LoopWriter(store, stall, spool, memory_limit_events=10, retry_max_s=0.02)
    writer.start(asyncio.get_running_loop())
    requests = Requests(seed=16)
    sent = [requests.admitted()]
    await writer.append("usage", sent[:1])
    stall.gate.clear()
    first = requests.admitted()
    sent.append(first)
    writer.submit("usage", [first], lambda _e, _i: None)
    await in_flight(writer, 1)
    for _ in range(30):  # more than memory holds while the commit hangs
        event = requests.admitted()
        sent.append(event)
        writer.submit("usage", [event], lambda _e, _i: None)
    assert len(spool) >= 20  # spilled to disk, not held in memory
    assert writer.accepting() is False
    stall.gate.set()
    for _ in range(1000):
        if not len(spool) and writer.accepting():
            break
        await asyncio.sleep(0.005)
    await writer.close()
    stored = [e.originator_id for _, e in store.iterate("usage")]
    assert stored == [e.originator_id for e in sent]  # every event, once, in order
    assert not (tmp_path / "spool.jsonl").exists()
