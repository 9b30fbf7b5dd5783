"""A group commit's bookkeeping: each append gets its own ids back, and a clash is named."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from govledger.ledger.commit_bookkeeping import WriterStats, describe_events, split_ids
from tests.integration.workload import Requests


@given(st.lists(st.integers(min_value=0, max_value=20), max_size=30), st.integers(1, 10**9))
def test_each_append_gets_its_own_ids_in_order(counts: list[int], first: int) -> None:
    ids = list(range(first, first + sum(counts)))

    shares = split_ids(counts, ids)

    assert [len(share) for share in shares] == counts
    assert [i for share in shares for i in share] == ids


def test_a_clash_is_named_by_the_first_event_of_its_append() -> None:
    event = Requests(seed=3).admitted()

    text = describe_events([event, Requests(seed=4).admitted()])

    assert text == f"RequestAdmitted for stream {event.originator_id} v1"


def test_a_failure_marks_the_writer_unhealthy_until_the_next_commit() -> None:
    stats = WriterStats()

    stats.failed(OSError("connection refused"))
    unhealthy = stats.healthy
    stats.committed(3, 0.002)

    assert (unhealthy, stats.healthy, stats.failures, stats.batches, stats.events) == (
        False,
        True,
        1,
        1,
        3,
    )
    assert (stats.last_batch_size, stats.last_commit_seconds) == (3, 0.002)
