"""A hash chain over the governance log's stored bytes, so an altered event is detected.

The `audit_chain` consumer walks the governance log in order and stores, per event,
`digest = SHA-256(previous digest, position, stream, version, topic, stored state)`.
Replay stays deterministic (events are unchanged; the chain is computed from what is
stored), and concurrent committers need no coordination: the log's order is the chain's.
`verify` recomputes the chain from the log and names the first event that no longer
matches. The head digest, recorded elsewhere, also anchors the chain itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from eventsourcing.persistence import Notification

from govledger.exporters.consumer import Decode, consume
from govledger.ledger.store import Store
from govledger.projections.database import Cursor, OnRebuild, ViewDatabase

GENESIS = "0" * 64
SCHEMA = [
    """CREATE TABLE IF NOT EXISTS gl_audit_chain (
        position BIGINT PRIMARY KEY, stream TEXT NOT NULL, version BIGINT NOT NULL,
        topic TEXT NOT NULL, prev TEXT NOT NULL, digest TEXT NOT NULL)""",
]


def create_tables(db: ViewDatabase) -> None:
    """Create the chain's table if it is missing."""
    with db.transaction() as cur:
        for statement in SCHEMA:
            cur.execute(statement)


def link(prev: str, note: Notification) -> str:
    """The digest of one stored event chained to the digest before it."""
    head = f"{prev}\n{note.id}\n{note.originator_id}\n{note.originator_version}\n{note.topic}\n"
    return hashlib.sha256(head.encode() + bytes(note.state)).hexdigest()


class AuditChain:
    """The governance consumer that extends the chain by each new event."""

    name = "audit_chain"
    app = "governance"
    on_rebuild: OnRebuild = "keep"  # evidence: never reset, never chained again
    tables: tuple[str, ...] = ("gl_audit_chain",)

    def process(self, cur: Cursor, notes: Sequence[Notification], decode: Decode) -> None:
        """Chain a batch inside the caller's transaction.

        Events the chain already holds are skipped, not chained again: a tracking row set
        back (as `rebuild` once did) resumes at the chain's head instead of failing on its
        primary key forever. `verify` still checks every recorded link against the log.
        """
        cur.execute("SELECT position, digest FROM gl_audit_chain ORDER BY position DESC LIMIT 1")
        found = cur.fetchone()
        chained, prev = (int(found[0]), str(found[1])) if found else (0, GENESIS)
        rows = []
        for note in notes:
            if note.id <= chained:
                continue
            digest = link(prev, note)
            rows.append(
                (
                    note.id,
                    str(note.originator_id),
                    note.originator_version,
                    note.topic,
                    prev,
                    digest,
                )
            )
            prev = digest
        if not rows:
            return
        cur.executemany(
            "INSERT INTO gl_audit_chain (position, stream, version, topic, prev, digest) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )


@dataclass(frozen=True)
class Verdict:
    """The outcome of a walk: how many events matched, and the first that did not."""

    checked: int
    head: str
    broken_at: int | None = None
    stream: str = ""
    version: int = 0
    event: str = ""  # the event class's name
    reason: str = ""

    @property
    def intact(self) -> bool:
        """True if every chained event matches its stored form."""
        return self.broken_at is None

    def describe(self) -> str:
        """One line for the CLI."""
        if self.intact:
            return f"audit chain intact: {self.checked} event(s) verified, head {self.head}"
        return (
            f"audit chain broken at position {self.broken_at}: {self.event} "
            f"(stream {self.stream}, version {self.version}): {self.reason}"
        )


def verify(store: Store, db: ViewDatabase, extend: bool = True) -> Verdict:
    """Recompute the chain from the stored log and compare it with the recorded one.

    With `extend`, events not chained yet are chained first (as the consumer would); the
    chain must then reach at least the log's head as it was before.
    """
    head = store.max_position("governance")
    if extend:
        consume(store, db, AuditChain())
    rows = db.query(
        "SELECT position, stream, version, topic, prev, digest FROM gl_audit_chain "
        "ORDER BY position"
    )
    notes: dict[int, Notification] = {}
    after = 0
    while True:
        batch = store.read("governance", after, 2000)
        notes.update((n.id, n) for n in batch)
        if len(batch) < 2000:
            break
        after = batch[-1].id
    prev = GENESIS
    checked = 0
    for position, stream, version, topic, recorded_prev, digest in rows:
        note = notes.get(int(position))
        reason = _mismatch(note, str(stream), int(version), str(topic), prev, recorded_prev, digest)
        if reason:
            event = str(topic).rpartition(":")[2]
            return Verdict(checked, prev, int(position), str(stream), int(version), event, reason)
        prev = str(digest)
        checked += 1
    last = int(rows[-1][0]) if rows else 0
    if extend and last < head:
        position = db.position(AuditChain.name, AuditChain.app)
        reason = (
            f"the chain ends at position {last} but the log at {head}, and its consumer's "
            f"tracking position is {position}: events after {last} are not chained"
        )
        note = notes.get(last + 1)
        stream, version = (str(note.originator_id), note.originator_version) if note else ("", 0)
        event = note.topic.rpartition(":")[2] if note else ""
        return Verdict(checked, prev, last + 1, stream, version, event, reason)
    return Verdict(checked, prev)


def _mismatch(
    note: Notification | None,
    stream: str,
    version: int,
    topic: str,
    prev: str,
    recorded_prev: str,
    digest: str,
) -> str:
    """Why a chain row does not match the log ('' if it does)."""
    if note is None:
        return "the event is missing from the log"
    if (str(note.originator_id), note.originator_version) != (stream, version):
        return "the stored event's stream or version was altered"
    if recorded_prev != prev:
        return "the recorded chain was altered before this event"
    if note.topic != topic or link(prev, note) != digest:
        return "its stored form was altered"
    return ""
