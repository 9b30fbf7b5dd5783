"""Retention prunes exactly the view rows past their period (clock injected): closed request
rows before the requests cutoff go, open ones stay, recorded headers before the headers
cutoff are emptied; the events stay in the log, and the run is itself an event; both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import NAMESPACE_URL, uuid5

import pytest
from typer.testing import CliRunner

from govledger.compliance.pruning import prune
from govledger.compliance.retention import RetentionPolicy
from govledger.ledger import events as ev
from govledger.ledger.periods import DurationError
from govledger.ledger.store import Store
from govledger.projections.database import ViewDatabase
from govledger.projections.rebuild import rebuild_views
from govledger.projections.runner import catch_up
from govledger.projections.usage_view import UsageView
from govledger.proxy.cli.main import app

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
# (request id, age, status, headers): ages on both sides of the 30d and 7d cutoffs.
ROWS = [
    ("old-closed", timedelta(days=30, microseconds=1), "ok", '{"x-user": "ann"}'),
    ("old-rejected", timedelta(days=400), "rejected", '{"x-user": "bob"}'),
    ("old-open", timedelta(days=45), "admitted", '{"x-user": "cy"}'),
    ("at-cutoff", timedelta(days=30), "ok", '{"x-user": "dee"}'),
    ("week-old", timedelta(days=7, seconds=1), "ok", '{"x-user": "eve"}'),
    ("no-headers", timedelta(days=8), "ok", "{}"),
    ("at-headers-cutoff", timedelta(days=7), "ok", '{"x-user": "fay"}'),
    ("fresh", timedelta(hours=1), "ok", '{"x-user": "gus"}'),
]


def seed(db: ViewDatabase) -> None:
    """The view's tables with the rows of ROWS."""
    db.create()
    with db.transaction() as cur:
        for position, (request_id, age, status, headers) in enumerate(ROWS, 1):
            cur.execute(
                "INSERT INTO gl_requests (request_id, position, admitted_at, status, headers) "
                "VALUES (?, ?, ?, ?, ?)",
                (request_id, position, (NOW - age).isoformat(), status, headers),
            )


def left(db: ViewDatabase) -> dict[str, str | None]:
    """request id -> headers of the rows still in the view."""
    return {r: h for r, h in db.query("SELECT request_id, headers FROM gl_requests")}


def test_retention_prunes_exactly_the_rows_past_their_period(store_url: str) -> None:
    store = Store(store_url)
    db = ViewDatabase(store_url)
    try:
        seed(db)
        policy = RetentionPolicy.parse("30d", "7d")
        event = prune(store, db, policy, "ops", "cli", clock=lambda: NOW)
        rows = left(db)
        recorded = [e for _, e in store.iterate("governance")]
    finally:
        db.close()
        store.close()

    assert set(rows) == {
        "old-open",
        "at-cutoff",
        "week-old",
        "no-headers",
        "at-headers-cutoff",
        "fresh",
    }
    assert rows["old-open"] is None and rows["at-cutoff"] is None and rows["week-old"] is None
    assert rows["no-headers"] == "{}"
    assert rows["at-headers-cutoff"] == '{"x-user": "fay"}'
    assert rows["fresh"] == '{"x-user": "gus"}'
    assert event.pruned == {"requests": 2, "headers": 3}
    assert event.cutoffs == {
        "requests": (NOW - timedelta(days=30)).isoformat(),
        "headers": (NOW - timedelta(days=7)).isoformat(),
    }
    assert [type(e) for e in recorded] == [ev.RetentionPruned]
    [run] = recorded
    assert isinstance(run, ev.RetentionPruned)
    assert (run.actor, run.source, run.pruned) == ("ops", "cli", event.pruned)
    assert run.periods == {"requests": "30d", "headers": "7d"}


def test_a_calendar_period_or_garbage_is_refused() -> None:
    with pytest.raises(DurationError, match="fixed unit"):
        RetentionPolicy.parse("1Y", None)
    with pytest.raises(DurationError):
        RetentionPolicy.parse(None, "thirty days")
    assert RetentionPolicy.parse(None, "").periods() == {}


def test_govledger_retention_prune_runs_on_the_store(sqlite_url: str) -> None:
    db = ViewDatabase(sqlite_url)
    Store(sqlite_url).close()
    now = datetime.now(UTC)
    db.create()
    with db.transaction() as cur:
        for request_id, age in (("old", timedelta(days=100)), ("new", timedelta(days=1))):
            cur.execute(
                "INSERT INTO gl_requests (request_id, position, admitted_at, status, headers) "
                "VALUES (?, 1, ?, 'ok', '{}')",
                (request_id, (now - age).isoformat()),
            )
    db.close()
    env = {"GOVLEDGER_DATABASE_URL": sqlite_url}

    done = CliRunner().invoke(app, ["retention", "prune", "--requests", "90d"], env=env)
    wrong = CliRunner().invoke(app, ["retention", "prune", "--requests", "3M"], env=env)
    none = CliRunner().invoke(app, ["retention", "prune"], env=env)

    assert done.exit_code == 0, done.output
    assert done.output.startswith("requests: 1 row(s) before ")
    assert set(left(db)) == {"new"}
    assert wrong.exit_code == 1 and "fixed unit" in wrong.output
    assert none.exit_code == 1 and "no retention period" in none.output


def rejected(request_id: str, at: datetime) -> ev.RequestRejected:
    """A refused request (a closed row of the request log) with a recorded header."""
    return ev.RequestRejected(
        originator_id=uuid5(NAMESPACE_URL, request_id),
        originator_version=1,
        timestamp=at,
        request_id=request_id,
        key_id=None,
        surface="openai_chat",
        model="m",
        code="virtual_key_required",
        level="key",
        message="no key",
        headers={"x-user": request_id},
    )


def test_a_rebuild_applies_the_recorded_cutoffs_again(store_url: str) -> None:
    store = Store(store_url)
    db = ViewDatabase(store_url)
    ages = {"old": timedelta(days=40), "middle": timedelta(days=10), "new": timedelta(hours=1)}
    try:
        db.create()
        store.usage.save(*(rejected(name, NOW - age) for name, age in ages.items()))
        catch_up(store, db, "usage", [UsageView()])
        prune(store, db, RetentionPolicy.parse("30d", "7d"), "ops", "cli", clock=lambda: NOW)
        pruned = left(db)
        rebuild_views(store, store_url)
        rebuilt = left(db)
    finally:
        db.close()
        store.close()

    assert pruned == {"middle": None, "new": '{"x-user":"new"}'}
    assert rebuilt == pruned  # the old row and the middle header stay gone
