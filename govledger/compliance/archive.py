"""The archive choice of retention: governance events past a period copied to a JSON Lines
file, each with its audit-chain digest, and the chain's head; `verify_archive` checks such a
file against the ledger. The events stay in the store (it is append-only: this copies)."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import orjson
from eventsourcing.persistence import Notification

from govledger.exporters.audit_chain import AuditChain, Verdict, link
from govledger.exporters.consumer import consume
from govledger.ledger import events as ev
from govledger.ledger.periods import Duration
from govledger.ledger.store import Store
from govledger.projections.database import ViewDatabase


@dataclass(frozen=True)
class Archived:
    """What one archive run wrote: events, the chain head, and the recorded event."""

    events: int
    head_position: int
    head_digest: str
    event: ev.RetentionPruned


@dataclass(frozen=True)
class ArchiveVerdict(Verdict):
    """The outcome of checking an archive against the ledger (the chain's verdict's shape)."""

    def describe(self) -> str:
        """One line for the CLI."""
        if self.intact:
            return f"archive intact: {self.checked} event(s) match the ledger, head {self.head}"
        return f"archive does not match the ledger at position {self.broken_at}: {self.reason}"


def _notes(store: Store) -> Iterator[Notification]:
    after = 0
    while batch := store.read("governance", after, 2000):
        yield from batch
        after = batch[-1].id


def _chain(db: ViewDatabase) -> dict[int, tuple[str, str]]:
    rows = db.query("SELECT position, prev, digest FROM gl_audit_chain ORDER BY position")
    return {int(p): (str(prev), str(digest)) for p, prev, digest in rows}


def line_of(note: Notification, prev: str, digest: str, at: datetime) -> dict[str, Any]:
    """One archived event: its stored form (state in base64) and its chain link."""
    return {
        "position": note.id,
        "stream": str(note.originator_id),
        "version": note.originator_version,
        "topic": note.topic,
        "at": at.isoformat(),
        "state": base64.b64encode(bytes(note.state)).decode(),
        "prev": prev,
        "digest": digest,
    }


def note_of(line: dict[str, Any]) -> Notification:
    """The stored event an archived line holds."""
    return Notification(
        id=int(line["position"]),
        originator_id=UUID(str(line["stream"])),
        originator_version=int(line["version"]),
        topic=str(line["topic"]),
        state=base64.b64decode(str(line["state"])),
    )


def archive(
    store: Store,
    db: ViewDatabase,
    period: Duration,
    path: Path,
    actor: str,
    source: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Archived:
    """Copy the governance events older than the period to `path` (written whole, then
    renamed into place), the chain's head last; record the run as `RetentionPruned`."""
    now = clock()
    cutoff = now - timedelta(seconds=period.approx_seconds)
    consume(store, db, AuditChain())  # every event chained before it is copied
    chain = _chain(db)
    decode = store.governance.mapper.to_domain_event
    head_position = max(chain, default=0)
    head_digest = chain[head_position][1] if head_position else ""
    count = 0
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as out:
        for note in _notes(store):
            if note.id not in chain or note.id > head_position:
                continue
            event = decode(note)
            at = event.timestamp if isinstance(event, ev.LedgerEvent) else now
            if at >= cutoff:
                continue
            prev, digest = chain[note.id]
            out.write(orjson.dumps(line_of(note, prev, digest, at)) + b"\n")
            count += 1
        head = {"position": head_position, "digest": head_digest}
        out.write(orjson.dumps({"head": head, "before": cutoff.isoformat()}) + b"\n")
        out.flush()
        os.fsync(out.fileno())
    partial.replace(path)
    run = ev.RetentionPruned(
        originator_id=uuid4(),
        originator_version=1,
        timestamp=now,
        actor=actor,
        source=source,
        periods={"events": str(period)},
        cutoffs={"events": cutoff.isoformat()},
        pruned={},
        archived={"file": str(path), "events": count, "head": head_digest},
    )
    store.governance.save(run)
    return Archived(count, head_position, head_digest, run)


def verify_archive(store: Store, db: ViewDatabase, path: Path) -> ArchiveVerdict:
    """Check every archived event against its own digest, the ledger's chain and the stored
    event at its position, and the archived head against the ledger's chain."""
    consume(store, db, AuditChain())
    chain = _chain(db)
    stored = {n.id: n for n in _notes(store)}
    checked, head = 0, ""
    for number, raw in enumerate(path.read_bytes().splitlines(), 1):
        try:
            line = orjson.loads(raw)
            if "head" in line:
                position, head = int(line["head"]["position"]), str(line["head"]["digest"])
                if position and chain.get(position, ("", ""))[1] != head:
                    return ArchiveVerdict(
                        checked, head, position, reason="the head is not the ledger's"
                    )
                continue
            note = note_of(line)
        except (ValueError, KeyError, TypeError) as error:
            return ArchiveVerdict(
                checked, head, 0, reason=f"line {number} is not an archived event: {error}"
            )
        reason = _mismatch(note, str(line["prev"]), str(line["digest"]), chain, stored)
        if reason:
            return ArchiveVerdict(checked, head, note.id, reason=reason)
        checked += 1
    if not head:
        return ArchiveVerdict(checked, head, 0, reason="the archive has no head line (cut short?)")
    return ArchiveVerdict(checked, head)


def _mismatch(
    note: Notification,
    prev: str,
    digest: str,
    chain: dict[int, tuple[str, str]],
    stored: dict[int, Notification],
) -> str:
    """Why an archived event does not match the ledger ('' if it does)."""
    if link(prev, note) != digest:
        return "the archived event does not hash to its digest (altered in the file)"
    if chain.get(note.id) != (prev, digest):
        return "the ledger's audit chain holds another digest at this position"
    found = stored.get(note.id)
    if found is None or link(prev, found) != digest:
        return "the store's event at this position differs"
    return ""
