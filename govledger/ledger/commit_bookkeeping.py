"""What a group commit reports: its counters, a clashing event, each append's share of ids."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from govledger.ledger.events import LedgerEvent

log = logging.getLogger("govledger.writer")

Callback = Callable[[BaseException | None, Sequence[int]], None]


class DuplicateEventError(RuntimeError):
    """An event with the same stream and version is already in the ledger."""


@dataclass
class WriterStats:
    """Counters the writer keeps for status and metrics."""

    batches: int = 0
    events: int = 0
    failures: int = 0
    last_batch_size: int = 0
    last_commit_seconds: float = 0.0
    healthy: bool = True

    def committed(self, events: int, seconds: float) -> None:
        """Count one successful commit."""
        self.healthy = True
        self.batches += 1
        self.events += events
        self.last_batch_size = events
        self.last_commit_seconds = seconds

    def failed(self, error: BaseException) -> None:
        """Count one failed commit; admission stops until the store answers again."""
        self.failures += 1
        self.healthy = False
        log.debug("commit failed: %s", str(error).splitlines()[0][:200] if str(error) else error)


def split_ids(counts: Sequence[int], ids: Sequence[int]) -> list[Sequence[int]]:
    """Hand a batch's notification ids back to its appends, in order, by their event counts."""
    shares, offset = [], 0
    for count in counts:
        shares.append(ids[offset : offset + count])
        offset += count
    return shares


def describe_events(events: Sequence[LedgerEvent]) -> str:
    """The first event of an append, named for a one-line message: type, stream, version."""
    first = events[0]
    return f"{type(first).__name__} for stream {first.originator_id} v{first.originator_version}"
