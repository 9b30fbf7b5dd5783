"""Stores written by release 0.1.0 keep loading: their events name the classes by the old
module paths (`ledger.events:RequestSettled`); the current code reads every one, rebuilds the
views from them and verifies the audit chain, on both stores."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from govledger.ledger import events as ev
from govledger.ledger.store import Store
from govledger.proxy.cli.main import app

FIXTURE = Path(__file__).parent.parent / "fixtures" / "release_0_1"
COUNTS = {"governance": 8, "usage": 11}


def restore(store_url: str, tmp_path: Path) -> str:
    """The fixture's events in the test's own store; returns its URL."""
    if store_url.startswith("sqlite"):
        for part in ("governance", "usage"):
            shutil.copy(
                FIXTURE / "sqlite" / f"ledger.{part}.sqlite", tmp_path / f"old.{part}.sqlite"
            )
        return f"sqlite:///{tmp_path}/old.sqlite"
    with psycopg.connect(store_url, autocommit=True) as conn:
        conn.execute((FIXTURE / "postgres.sql").read_text())
    return store_url


def test_a_release_0_1_store_is_read_rebuilt_and_verified(store_url: str, tmp_path: Path) -> None:
    url = restore(store_url, tmp_path)
    store = Store(url)
    try:
        read = {app: [event for _, event in store.iterate(app)] for app in COUNTS}
    finally:
        store.close()
    assert {app: len(events) for app, events in read.items()} == COUNTS
    assert all(isinstance(e, ev.LedgerEvent) for events in read.values() for e in events)
    settled = [e for e in read["usage"] if isinstance(e, ev.RequestSettled)]
    assert len(settled) == 5 and sum(e.cost for e in settled) > 0

    env = {"GOVLEDGER_DATABASE_URL": url, "GOVLEDGER_SECRET_KEY_FILE": str(tmp_path / "key")}
    runner = CliRunner()
    rebuilt = runner.invoke(app, ["rebuild"], env=env)
    assert rebuilt.exit_code == 0, rebuilt.output
    status = json.loads(runner.invoke(app, ["status", "--json"], env=env).stdout)
    assert status["events"] == COUNTS
    verified = runner.invoke(app, ["audit", "verify"], env=env)
    assert verified.exit_code == 0, verified.output
    assert "Traceback" not in rebuilt.output + verified.output


@pytest.mark.parametrize("part", ["governance", "usage"])
def test_the_fixture_names_its_events_by_the_old_module_path(part: str) -> None:
    text = (FIXTURE / "postgres.sql").read_text()
    assert "'ledger.events:" in text
    assert (FIXTURE / "sqlite" / f"ledger.{part}.sqlite").stat().st_size > 0
