"""The governance log's hash chain: intact after changes, and an altered stored row is named."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from govledger.exporters.audit_chain import AuditChain, create_tables, verify
from govledger.exporters.consumer import consume
from govledger.ledger.config import parse_config
from govledger.ledger.credentials import SecretBox
from govledger.ledger.governance import GovernanceLedger
from govledger.ledger.store import Store, StoreURL
from govledger.projections.database import ViewDatabase
from govledger.proxy.cli.main import app
from tests.integration.exporters.support import CONFIG


def changes(url: str, tmp_path: Path) -> None:
    """Apply the config, then change the team twice: a handful of governance events."""
    config = json.loads(json.dumps(CONFIG).replace("{MOCK}", "http://127.0.0.1:9"))
    store = Store(url)
    ledger = GovernanceLedger(store, SecretBox.from_environment_or_file(tmp_path / "secret.key"))
    ledger.apply(parse_config(config), "alice", "cli")
    for limit in ("6", "7"):
        team = {**config["teams"][0], "budgets": [{"max_limit": limit, "reset_duration": "1d"}]}
        ledger.apply(parse_config({**config, "teams": [team]}), "bob", "cli")
    store.close()


def alter_state(url: str, position: int, new_state: bytes) -> None:
    """Overwrite one stored governance event's state bytes directly in the database."""
    parsed = StoreURL(url)
    if parsed.scheme == "sqlite":
        with sqlite3.connect(parsed.sqlite_file("governance")) as conn:
            conn.execute(
                "UPDATE stored_events SET state = ? WHERE rowid = ?",
                (new_state, position),
            )
        return
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE governance_events SET state = %s WHERE notification_id = %s",
            (new_state, position),
        )


def stored_state(store: Store, position: int) -> bytes:
    """The stored state bytes of one governance event."""
    return bytes(store.read("governance", position - 1, 1)[0].state)


def test_the_chain_is_intact_after_changes_and_names_the_first_altered_event(
    store_url: str, tmp_path: Path
) -> None:
    changes(store_url, tmp_path)
    store = Store(store_url)
    db = ViewDatabase(store_url)
    db.create()
    create_tables(db)
    consume(store, db, AuditChain())
    head = store.max_position("governance")

    intact = verify(store, db)
    original = stored_state(store, head - 1)
    alter_state(store_url, head - 1, original.replace(b'"7"', b'"70"').replace(b'"6"', b'"60"'))
    altered = verify(store, db)
    alter_state(store_url, head - 1, original)
    restored = verify(store, db)
    db.close()
    store.close()

    assert intact.intact and intact.checked == head
    assert not altered.intact
    assert altered.broken_at == head - 1
    assert altered.event == "TeamUpdated"
    assert altered.version == 2
    assert altered.reason == "its stored form was altered"
    assert restored.intact


def test_audit_verify_command_exits_non_zero_and_names_the_altered_event(
    sqlite_url: str, tmp_path: Path
) -> None:
    changes(sqlite_url, tmp_path)
    runner = CliRunner()
    env = {"GOVLEDGER_DATABASE_URL": sqlite_url}
    first = runner.invoke(app, ["audit", "verify"], env=env)
    store = Store(sqlite_url)
    alter_state(sqlite_url, 2, stored_state(store, 2) + b" ")
    store.close()

    second = runner.invoke(app, ["audit", "verify"], env=env)

    assert first.exit_code == 0, first.output
    assert re.match(
        r"audit chain intact: \d+ event\(s\) verified, head [0-9a-f]{64}\n$", first.output
    )
    assert second.exit_code == 1
    assert re.match(r"audit chain broken at position 2: [A-Za-z]+Created \(stream ", second.output)
    assert "its stored form was altered" in second.output


def test_a_deleted_event_is_reported_missing(sqlite_url: str, tmp_path: Path) -> None:
    changes(sqlite_url, tmp_path)
    store = Store(sqlite_url)
    db = ViewDatabase(sqlite_url)
    db.create()
    create_tables(db)
    consume(store, db, AuditChain())
    with sqlite3.connect(StoreURL(sqlite_url).sqlite_file("governance")) as conn:
        conn.execute("DELETE FROM stored_events WHERE rowid = 3")

    verdict = verify(store, db)
    db.close()
    store.close()

    assert (verdict.broken_at, verdict.reason) == (3, "the event is missing from the log")
    assert verdict.checked == 2


@pytest.mark.parametrize("consumers", [1, 2])
def test_chaining_in_several_batches_gives_the_same_head(
    sqlite_url: str, tmp_path: Path, consumers: int
) -> None:
    changes(sqlite_url, tmp_path)
    store = Store(sqlite_url)
    db = ViewDatabase(sqlite_url)
    db.create()
    create_tables(db)
    for _ in range(consumers):
        consume(store, db, AuditChain(), batch_size=2)
    once = verify(store, db)
    db.close()
    store.close()

    assert (
        once.intact and once.checked == store.max_position("governance") if False else once.intact
    )


def chained(url: str, tmp_path: Path) -> int:
    """A few governance changes, all chained; returns the log's head."""
    changes(url, tmp_path)
    store = Store(url)
    db = ViewDatabase(url)
    db.create()
    create_tables(db)
    consume(store, db, AuditChain())
    head = store.max_position("governance")
    db.close()
    store.close()
    return head


def views_sql(url: str, *statements: str) -> None:
    """Run statements on the views' database (this test's own)."""
    db = ViewDatabase(url)
    with db.transaction() as cur:
        for statement in statements:
            cur.execute(statement)
    db.close()


def test_a_chain_whose_tracking_row_was_reset_resumes_at_its_head_and_verifies(
    store_url: str, tmp_path: Path
) -> None:
    head = chained(store_url, tmp_path)
    views_sql(store_url, "DELETE FROM gl_tracking WHERE view = 'audit_chain'")  # as rebuild did
    store = Store(store_url)
    db = ViewDatabase(store_url)

    walked = consume(store, db, AuditChain())
    position = db.position("audit_chain", "governance")
    rows = db.query("SELECT COUNT(*) FROM gl_audit_chain")
    db.close()
    store.close()
    result = CliRunner().invoke(app, ["audit", "verify"], env={"GOVLEDGER_DATABASE_URL": store_url})

    assert (walked, position, int(rows[0][0])) == (head, head, head)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"audit chain intact: {head} event(s) verified")


def test_a_chain_shorter_than_its_tracking_position_is_reported_in_one_line(
    store_url: str, tmp_path: Path
) -> None:
    head = chained(store_url, tmp_path)
    views_sql(store_url, f"DELETE FROM gl_audit_chain WHERE position > {head - 2}")

    result = CliRunner().invoke(app, ["audit", "verify"], env={"GOVLEDGER_DATABASE_URL": store_url})

    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert result.output.startswith(f"audit chain broken at position {head - 1}: TeamUpdated ")
    assert f"the chain ends at position {head - 2} but the log at {head}" in result.output


def test_an_unreadable_chain_table_gives_one_line_and_no_traceback(
    store_url: str, tmp_path: Path
) -> None:
    chained(store_url, tmp_path)
    views_sql(
        store_url,
        "ALTER TABLE gl_audit_chain RENAME TO gl_audit_chain_moved",
        "CREATE TABLE gl_audit_chain (position BIGINT PRIMARY KEY)",
    )

    result = CliRunner().invoke(app, ["audit", "verify"], env={"GOVLEDGER_DATABASE_URL": store_url})

    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("error: audit chain not verified: ")
    assert "Traceback" not in result.output
