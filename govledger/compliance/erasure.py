"""Erasure by crypto-shredding: a subject's key destroyed, the erasure recorded as an event
that names only the subject's reference; no event changes, so the hash chain still verifies."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from uuid import uuid4

from govledger.ledger import events as ev
from govledger.ledger.personal import SubjectRef, recorded_value
from govledger.ledger.subject_keys import KeyRing


class ErasureNotRecordedError(RuntimeError):
    """The key is destroyed (the data is erased) but the event could not be appended."""


def forgetting_event(
    ref: SubjectRef, destroyed: int, actor: str, source: str, now: datetime
) -> ev.SubjectErased:
    """The event recording one erasure (a stream of its own)."""
    return ev.SubjectErased(
        originator_id=uuid4(),
        originator_version=1,
        timestamp=now,
        actor=actor,
        source=source,
        ref=ref,
        keys_destroyed=destroyed,
    )


def forget(
    ring: KeyRing,
    append: Callable[[Sequence[ev.GovernanceEvent]], object],
    subject: str,
    actor: str,
    source: str,
    now: datetime,
) -> ev.SubjectErased:
    """Destroy the subject's key, then record it (blocking: call from a thread). The key goes
    first: an erasure must never wait on its record; running it again records it."""
    ref = ring.ref(recorded_value(subject))  # named as its header value was recorded
    destroyed = ring.keys.destroy(ref)
    ring.evict(ref)
    event = forgetting_event(ref, destroyed, actor, source, now)
    try:
        append([event])
    except Exception as error:
        raise ErasureNotRecordedError(
            f"the key of {ref} is destroyed but the erasure is not recorded "
            f"({type(error).__name__}): run it again to record it"
        ) from None
    return event
