"""The commit process's pipe format: a batch packed into plain tuples unpacks to stored events
equal to the originals (UUID and string originator ids alike), and pickles smaller."""

from __future__ import annotations

import pickle
import uuid

from eventsourcing.persistence import StoredEvent
from hypothesis import given
from hypothesis import strategies as st

from govledger.ledger.commit_process import packed, unpacked

stored_events = st.builds(
    StoredEvent,
    originator_id=st.one_of(st.uuids(), st.text(max_size=40)),
    originator_version=st.integers(min_value=0, max_value=2**62),
    topic=st.text(max_size=80),
    state=st.binary(max_size=200),
)


@given(st.lists(stored_events, max_size=20))
def test_a_packed_batch_unpacks_to_equal_stored_events(batch: list[StoredEvent]) -> None:
    rows = pickle.loads(pickle.dumps(packed(batch), protocol=pickle.HIGHEST_PROTOCOL))
    again = unpacked(rows)
    assert again == batch
    assert [type(e.originator_id) for e in again] == [type(e.originator_id) for e in batch]


def test_a_packed_batch_pickles_smaller_than_the_dataclasses() -> None:
    batch = [
        StoredEvent(uuid.UUID(int=i), i, "govledger.ledger.events:RequestSettled", b"{}")
        for i in range(32)
    ]
    assert len(pickle.dumps(packed(batch))) < len(pickle.dumps(batch))
