"""SIEM export: replay a time range on demand, or follow the log as a tracked consumer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial

from eventsourcing.persistence import Notification

from govledger.exporters.consumer import Decode
from govledger.exporters.siem_formats import FORMATS, decoded, line_of
from govledger.exporters.siem_sinks import Line, Sink
from govledger.ledger.store import Store
from govledger.projections.database import Cursor, OnRebuild

APPS = ("governance", "usage")


def lines_of(app: str, notes: Sequence[Notification], decode: Decode, fmt: str) -> list[Line]:
    """The records of a batch in one format, with their event ids."""
    return [line_of(app, note, decoded(note, decode), fmt) for note in notes]


def replay(
    store: Store,
    start: datetime | None,
    end: datetime | None,
    fmt: str,
    sink: Sink,
    progress: Callable[[int], None] | None = None,
    batch: int = 500,
) -> int:
    """Send every event with `start <= timestamp < end` (both logs, in log order)."""
    sent = 0
    for app in APPS:
        after = 0
        while True:
            notes = store.read(app, after, batch)
            if not notes:
                break
            lines: list[Line] = []
            for note in notes:
                event = decoded(note, partial(store.decode, app))
                if isinstance(event, Exception) or (  # unreadable: degraded, whatever its time
                    (start is None or event.timestamp >= start)
                    and (end is None or event.timestamp < end)
                ):
                    lines.append(line_of(app, note, event, fmt))
            if lines:
                sink.send(lines)
                sent += len(lines)
            if progress is not None:
                progress(len(notes))
            after = notes[-1].id
    return sent


class SiemExport:
    """A tracked consumer that delivers each batch to a sink before its position commits.

    Delivery is at least once: a crash between the send and the commit sends the batch
    again, and the receiver deduplicates on the event id every record carries.
    """

    def __init__(self, app: str, fmt: str, sink: Sink) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}: use {', '.join(FORMATS)}")
        self.name = f"siem_{fmt}"
        self.app = app
        self.on_rebuild: OnRebuild = "keep"  # delivery: a rebuild never sends again
        self.tables: tuple[str, ...] = ()
        self.fmt = fmt
        self.sink = sink

    def process(self, cur: Cursor, notes: Sequence[Notification], decode: Decode) -> None:
        """Format and deliver the batch (raises SinkError to keep the position)."""
        self.sink.send(lines_of(self.app, notes, decode, self.fmt))
