"""The benchmark's writer thread on a real store: group commit; a clash fails only its append."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import pytest

from bench.thread_writer import Writer
from govledger.ledger.commit_bookkeeping import Callback, DuplicateEventError
from govledger.ledger.store import Store
from tests.integration.workload import Requests

THREADS = 4
PER_THREAD = 25


@pytest.fixture
def writer(store: Store) -> Iterator[Writer]:
    """A writer over the store, stopped after the test (not started: the test starts it)."""
    made = Writer(store, max_batch_events=40)
    yield made
    made.stop()


class Outcomes:
    """Collects what the writer reports for each append."""

    def __init__(self, expected: int) -> None:
        self.results: dict[str, tuple[BaseException | None, Sequence[int]]] = {}
        self._lock = threading.Lock()
        self._all = threading.Event()
        self._expected = expected

    def callback(self, name: str) -> Callback:
        def done(error: BaseException | None, ids: Sequence[int]) -> None:
            with self._lock:
                self.results[name] = (error, ids)
                if len(self.results) == self._expected:
                    self._all.set()

        return done

    def wait(self) -> None:
        assert self._all.wait(timeout=30), f"only {len(self.results)} of {self._expected} done"


def test_appends_from_several_threads_share_fewer_commits(store: Store, writer: Writer) -> None:
    outcomes = Outcomes(THREADS * PER_THREAD)

    def submit(thread: int) -> None:
        requests = Requests(seed=thread + 1)
        for n in range(PER_THREAD):
            writer.submit("usage", [requests.admitted()], outcomes.callback(f"{thread}/{n}"))

    threads = [threading.Thread(target=submit, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.start()  # everything is queued: the writer must batch it
    outcomes.wait()

    ids = [i for error, got in outcomes.results.values() for i in got if error is None]
    assert all(error is None for error, _ in outcomes.results.values())
    assert sorted(ids) == sorted(set(ids)) and len(ids) == THREADS * PER_THREAD
    assert store.max_position("usage") == max(ids)
    assert writer.stats.events == THREADS * PER_THREAD
    assert writer.stats.batches == 3  # 100 appends of one event, at most 40 per commit


def test_each_append_gets_the_positions_of_its_own_events(store: Store, writer: Writer) -> None:
    requests = Requests(seed=9)
    first = [requests.admitted(), requests.admitted()]
    second = [requests.admitted()]
    outcomes = Outcomes(2)
    writer.submit("usage", first, outcomes.callback("first"))
    writer.submit("usage", second, outcomes.callback("second"))
    writer.start()
    outcomes.wait()

    for name, events in (("first", first), ("second", second)):
        error, ids = outcomes.results[name]
        assert error is None
        stored = [store.decode("usage", n) for n in store.read("usage", min(ids) - 1, len(ids))]
        assert stored == events


def test_a_clashing_event_fails_alone_and_the_rest_of_its_batch_commits(
    store: Store, writer: Writer
) -> None:
    requests = Requests(seed=3)
    already = requests.admitted()
    store.usage.save(already)
    before = requests.admitted()
    after = requests.rejected()
    outcomes = Outcomes(3)
    writer.submit("usage", [before], outcomes.callback("before"))
    writer.submit("usage", [already], outcomes.callback("clash"))
    writer.submit("usage", [after], outcomes.callback("after"))
    writer.start()
    outcomes.wait()

    error, ids = outcomes.results["clash"]
    assert isinstance(error, DuplicateEventError)
    assert str(already.originator_id) in str(error)
    assert ids == []
    assert outcomes.results["before"][0] is None
    assert outcomes.results["after"][0] is None
    stored = [e for _, e in store.iterate("usage")]
    assert stored == [already, before, after]


def test_append_sync_raises_what_the_store_raised(store: Store, writer: Writer) -> None:
    requests = Requests(seed=4)
    event = requests.admitted()
    writer.start()
    writer.append_sync("usage", [event])

    with pytest.raises(DuplicateEventError):
        writer.append_sync("usage", [event])

    assert store.max_position("usage") >= 1
    assert [e for _, e in store.iterate("usage")] == [event]


async def test_append_from_asyncio_resolves_with_the_positions(
    store: Store, writer: Writer
) -> None:
    requests = Requests(seed=5)
    writer.start()

    ids = await writer.append("usage", [requests.rejected()])

    assert list(ids) == [store.max_position("usage")]


def test_stop_finishes_what_is_queued(store: Store, writer: Writer) -> None:
    requests = Requests(seed=6)
    outcomes = Outcomes(10)
    for n in range(10):
        writer.submit("usage", [requests.rejected()], outcomes.callback(str(n)))
    writer.start()
    writer.stop()

    outcomes.wait()
    assert len(list(store.iterate("usage"))) == 10
