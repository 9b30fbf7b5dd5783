"""A rebuild killed (-9) mid-way, then run again, leaves the views of an uninterrupted one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench.ledger_append import request_events
from govledger.ledger.store import Store
from govledger.projections.database import ViewDatabase
from govledger.projections.rebuild import rebuild_views

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 3000  # 6,000 events: 24 batches of 250 in the child
TABLES = {
    "gl_budget_usage": "budget, period",
    "gl_rate_state": "limit_id",
    "gl_requests": "request_id",
    "gl_tracking": "view, app",
}
CHILD = """
import sys
import govledger.projections.rebuild as rebuild
from govledger.ledger.store import Store
rebuild.BATCH = 250  # many small commits: the kill lands between two of them
store = Store(sys.argv[1])
rebuild.rebuild_views(store, sys.argv[1])
"""


def rows(url: str) -> dict[str, Any]:
    """Every row of the usage views and the tracking table."""
    db = ViewDatabase(url)
    try:
        return {t: db.query(f"SELECT * FROM {t} ORDER BY {o}") for t, o in TABLES.items()}  # noqa: S608
    finally:
        db.close()


def usage_position(url: str) -> int:
    """Where the usage view's fold has got to."""
    db = ViewDatabase(url)
    try:
        return db.position("usage", "usage")
    finally:
        db.close()


@pytest.mark.fault_bound(180)
def test_a_rebuild_killed_mid_way_then_run_again_gives_the_same_views(store_url: str) -> None:
    store = Store(store_url)
    try:
        stored = [store.usage.mapper.to_stored_event(e) for e in request_events(REQUESTS)]
        store.usage.recorder.insert_events(stored)
        total = store.max_position("usage")
        rebuild_views(store, store_url)
        clean = rows(store_url)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = subprocess.Popen([sys.executable, "-c", CHILD, store_url], env=env)  # noqa: S603
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and child.poll() is None:
                if 0 < usage_position(store_url) < total // 2:
                    break
                time.sleep(0.01)
            assert child.poll() is None, "the rebuild ended before it could be killed"
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.wait(timeout=30)
        torn = rows(store_url)
        assert torn != clean  # killed mid-way: the views were half folded
        rebuild_views(store, store_url)
        assert rows(store_url) == clean
    finally:
        store.close()
