"""The archive choice of retention: the governance events past a period are copied to a
JSON Lines file with their audit-chain digests and the chain's head, the run is an event,
the events stay in the store (`audit verify` still passes), and `verify_archive` finds an
altered, foreign or cut-short file; both stores, and the CLI on SQLite."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import orjson
from typer.testing import CliRunner

from govledger.compliance.archive import archive, note_of, verify_archive
from govledger.compliance.retention import retention_period
from govledger.exporters.audit_chain import create_tables, link
from govledger.exporters.audit_chain import verify as audit_verify
from govledger.ledger import events as ev
from govledger.ledger.store import Store
from govledger.projections.database import ViewDatabase
from govledger.proxy.cli.main import app

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
AGES = [timedelta(days=500), timedelta(days=400, microseconds=1), timedelta(days=400), timedelta(1)]


def erased(age: timedelta) -> ev.SubjectErased:
    """A governance event stamped NOW - age."""
    return ev.SubjectErased(
        originator_id=uuid4(),
        originator_version=1,
        timestamp=NOW - age,
        actor="ops",
        source="cli",
        ref=f"ref-{age.days}",
        keys_destroyed=1,
    )


def lines(path: Path) -> list[dict[str, object]]:
    """The archive's lines, parsed."""
    return [orjson.loads(raw) for raw in path.read_bytes().splitlines()]


def test_events_past_the_period_are_archived_with_their_hashes(
    store_url: str, tmp_path: Path
) -> None:
    store = Store(store_url)
    db = ViewDatabase(store_url)
    path = tmp_path / "archive.jsonl"
    try:
        db.create()
        create_tables(db)
        for age in AGES:
            store.governance.save(erased(age))
        done = archive(store, db, retention_period("400d"), path, "ops", "cli", lambda: NOW)
        written = lines(path)
        intact = verify_archive(store, db, path)
        chain = audit_verify(store, db)
        kept = [e for _, e in store.iterate("governance")]

        altered = tmp_path / "altered.jsonl"
        first = dict(written[0])
        state = base64.b64decode(str(first["state"])).replace(b"ops", b"eve")
        altered_lines = [{**first, "state": base64.b64encode(state).decode()}, *written[1:]]
        altered.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in altered_lines))
        rehashed = tmp_path / "rehashed.jsonl"  # a digest recomputed to match: still caught
        forged = {**altered_lines[0]}
        forged["digest"] = link(str(forged["prev"]), note_of(forged))
        rehashed.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in [forged, *written[1:]]))
        short = tmp_path / "short.jsonl"
        short.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in written[:-1]))
        foreign = tmp_path / "foreign.jsonl"
        head = {**written[-1], "head": {"position": done.head_position, "digest": "0" * 64}}
        foreign.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in [*written[:-1], head]))
        garbage = tmp_path / "garbage.jsonl"
        garbage.write_bytes(b"not json\n")
        verdicts = [verify_archive(store, db, p) for p in (altered, rehashed, short, foreign)]
        broken_garbage = verify_archive(store, db, garbage)
    finally:
        db.close()
        store.close()

    assert done.events == 2  # 500d and 400d + 1us; the one at the cutoff stays out
    events = [x for x in written if "head" not in x]
    assert [x["at"] for x in events] == [(NOW - a).isoformat() for a in AGES[:2]]
    assert written[-1]["head"] == {"position": done.head_position, "digest": done.head_digest}
    assert done.head_position == 4 and chain.checked == 5  # the run's own event is chained
    assert intact.intact and intact.checked == 2, intact.describe()
    assert chain.intact, chain.describe()  # the events are still in the store, chain whole
    assert len(kept) == 5 and isinstance(kept[-1], ev.RetentionPruned)
    run = kept[-1]
    assert isinstance(run, ev.RetentionPruned)
    assert run.archived == {"file": str(path), "events": 2, "head": done.head_digest}
    assert run.cutoffs == {"events": (NOW - timedelta(days=400)).isoformat()}
    assert [v.intact for v in verdicts] == [False, False, False, False]
    assert "altered in the file" in verdicts[0].reason
    assert "another digest" in verdicts[1].reason
    assert "no head line" in verdicts[2].reason
    assert "head is not the ledger's" in verdicts[3].reason
    assert not broken_garbage.intact and "not an archived event" in broken_garbage.reason
    assert not list(tmp_path.glob("*.partial"))


def test_govledger_retention_archive_and_verify(sqlite_url: str, tmp_path: Path) -> None:
    store = Store(sqlite_url)
    store.governance.save(erased(timedelta(days=1)))  # older than 1h: archived
    store.close()
    env = {"GOVLEDGER_DATABASE_URL": sqlite_url}
    path = tmp_path / "a.jsonl"
    runner = CliRunner()

    done = runner.invoke(
        app, ["retention", "archive", "--events", "1h", "--to", str(path)], env=env
    )
    checked = runner.invoke(app, ["retention", "verify", str(path)], env=env)
    wrong = runner.invoke(app, ["retention", "archive", "--events", "1Y", "--to", "x"], env=env)
    nowhere = runner.invoke(
        app, ["retention", "archive", "--events", "1d", "--to", "/no/such/dir/a"], env=env
    )
    missing = runner.invoke(app, ["retention", "verify", str(tmp_path / "none")], env=env)

    assert done.exit_code == 0, done.output
    assert done.output.startswith("events: 1 archived to ")
    assert checked.exit_code == 0 and checked.output.startswith("archive intact: 1 event(s)")
    assert wrong.exit_code == 1 and "fixed unit" in wrong.output
    assert nowhere.exit_code == 1 and "no such directory" in nowhere.output
    assert missing.exit_code == 1 and "no such file" in missing.output
