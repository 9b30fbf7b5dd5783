"""The event-loop writer on a real store, through the commit process."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence

import pytest

from ledger.commit_process import CommitFailedError, CommitProcess
from ledger.loop_writer import LoopWriter
from ledger.store import Store
from ledger.writer import DuplicateEventError
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


async def test_a_store_that_is_down_fails_the_append_and_marks_the_writer_unhealthy(
    tmp_path: object, store: Store
) -> None:
    commits = CommitProcess("postgresql://postgres@127.0.0.1:1/none")
    commits.start()
    writer = LoopWriter(store, commits)
    writer.start(asyncio.get_running_loop())
    with pytest.raises(CommitFailedError):
        await writer.append("usage", [Requests(seed=11).admitted()])
    await writer.close()
    commits.stop()
    assert writer.stats.healthy is False
    assert writer.stats.failures == 1
