"""What each process loads: the commit and projection processes on SQLite no PostgreSQL
driver, the server no MCP SDK until a key's MCP server is called (each ~10 MiB of modules,
per process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

COMMIT_PROCESS = """
import json, sys
from govledger.ledger.commit_process import _serve  # what the child unpickles its target from
from govledger.ledger.heap import freeze_after_start
from govledger.ledger.store import Store, without_retries

store = Store(sys.argv[1], create_tables=True, pool_size=1, max_overflow=0)
recorder = store.apps["usage"].recorder
without_retries(type(recorder).max_notification_id)(recorder)
store.close()
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & {"psycopg", "mcp"})))
"""

PROJECTION_PROCESS = """
import json, sys
from govledger.exporters import registry
from govledger.projections.audit_view import AuditView
from govledger.projections.database import ViewDatabase
from govledger.projections.runner import Tail
from govledger.projections.usage_view import UsageView
from govledger.projections.worker import _run  # what the child unpickles its target from
from govledger.ledger.store import Store

url = sys.argv[1]
store = Store(url, create_tables=True, pool_size=1, max_overflow=0)
views = ViewDatabase(url)  # as the server does before it starts the child
views.create()
registry.create_tables(views)
views.close()
tails = [Tail(store, url, "governance", [AuditView()]), Tail(store, url, "usage", [UsageView()])]
for tail in tails + registry.tails(store, url):
    tail.step()
store.close()
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & {"psycopg"})))
"""

SERVER = """
import json, sys
import govledger.proxy.cli.main, govledger.proxy.server.app
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & {"mcp"})))
"""


def loaded(script: str, tmp_path: Path, *args: str) -> list[str]:
    """The watched top-level packages a fresh interpreter has loaded after `script`."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=tmp_path,
        env=dict(os.environ),  # PYTHONPATH, if any, picks the tree under test
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found: list[str] = json.loads(done.stdout)
    return found


def test_the_commit_process_on_sqlite_loads_no_postgresql_driver(tmp_path: Path) -> None:
    assert loaded(COMMIT_PROCESS, tmp_path, f"sqlite:///{tmp_path}/ledger.sqlite") == []


def test_the_projection_process_on_sqlite_loads_no_postgresql_driver(tmp_path: Path) -> None:
    assert loaded(PROJECTION_PROCESS, tmp_path, f"sqlite:///{tmp_path}/ledger.sqlite") == []


def test_the_server_loads_no_mcp_sdk_before_a_key_calls_an_mcp_server(tmp_path: Path) -> None:
    assert loaded(SERVER, tmp_path) == []
