"""A local append-only file for usage events the store could not take yet.

While the store is down, every event the writer cannot commit is appended here (one JSON line
each, written and flushed at once, so a `kill -9` loses none) and committed, in order, once the
store answers again; a process that dies with a spool left over commits it at its next start
before anything else. Lines hold stored events (topic and encoded state), never secrets: the
events themselves carry none.
"""

from __future__ import annotations

import base64
import logging
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import orjson
from eventsourcing.persistence import IntegrityError, StoredEvent

from govledger.ledger.store import Store

log = logging.getLogger("govledger.spool")

Record = tuple[str, StoredEvent]  # (application, stored event)


def encode(app: str, stored: StoredEvent) -> bytes:
    """One spool line for a stored event."""
    return orjson.dumps(
        {
            "app": app,
            "id": str(stored.originator_id),
            "v": stored.originator_version,
            "topic": stored.topic,
            "state": base64.b64encode(stored.state).decode("ascii"),
        }
    )


def decode(line: bytes) -> Record:
    """A spool line back into its application and stored event."""
    obj = orjson.loads(line)
    stored = StoredEvent(
        originator_id=uuid.UUID(obj["id"]),
        originator_version=int(obj["v"]),
        topic=str(obj["topic"]),
        state=base64.b64decode(obj["state"]),
    )
    return str(obj["app"]), stored


class Spool:
    """Records appended at the end, read from the front; empty once all are committed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._unread: list[Record] = []
        if path.exists():
            self._unread = self._load()

    def __len__(self) -> int:
        return len(self._unread)

    def _load(self) -> list[Record]:
        records: list[Record] = []
        lines = self.path.read_bytes().split(b"\n")
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                records.append(decode(line))
            except (ValueError, KeyError, TypeError):
                # Only a last line cut by a crash can be torn: it was never acknowledged.
                log.warning("spool %s: line %d is unreadable and skipped", self.path, number)
        return records

    def append(self, records: Sequence[Record]) -> None:
        """Add records at the end and flush them to the file at once."""
        if not records:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = b"".join(encode(app, stored) + b"\n" for app, stored in records)
        with self.path.open("ab") as handle:
            handle.write(data)
            handle.flush()
        self._unread.extend(records)

    def prepend(self, records: Sequence[Record]) -> None:
        """Put records before the unread ones (rewrites the file; a rare path)."""
        if not records:
            return
        everything = list(records) + self._unread
        self._rewrite(everything)
        self._unread = everything

    def peek(self, limit: int) -> list[Record]:
        """The oldest unread records, at most `limit`, all of one application."""
        if not self._unread:
            return []
        app = self._unread[0][0]
        chunk: list[Record] = []
        for record in self._unread[:limit]:
            if record[0] != app:
                break
            chunk.append(record)
        return chunk

    def advance(self, count: int) -> None:
        """Mark the oldest `count` records committed; the file goes once all are."""
        del self._unread[:count]
        # The file keeps committed lines until all are: after a crash mid-drain they are read
        # again and skipped as duplicates (the store refuses an event it holds already).
        if not self._unread and self.path.exists():
            self.path.unlink()

    def _rewrite(self, records: Sequence[Record]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        with temporary.open("wb") as handle:
            handle.write(b"".join(encode(app, stored) + b"\n" for app, stored in records))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)


def commit_spool(store: Store, spool: Spool, chunk: int = 1000) -> int:
    """Commit what a spool holds, in order, straight to the store (at start); returns the count.

    An event the store holds already (committed before a crash or a lost reply) is skipped.
    """
    committed = 0
    while len(spool):
        records = spool.peek(chunk)
        app = records[0][0]
        recorder = store.apps[app].recorder
        stored = [s for _, s in records]
        try:
            recorder.insert_events(stored)
            committed += len(stored)
        except IntegrityError:
            for one in stored:
                try:
                    recorder.insert_events([one])
                    committed += 1
                except IntegrityError:
                    continue
        spool.advance(len(records))
    if committed:
        log.warning("committed %d event(s) kept in %s by an earlier run", committed, spool.path)
    return committed
