"""The floor of one durable commit, against what a request waits for through the ledger.

    .venv/bin/python bench/commit_floor.py [--stores sqlite,postgres] [--commits 2000]

For each store it times, one at a time (one caller, as at 1 connection):
  - `round trip`: PostgreSQL only, `SELECT 1` on a kept connection (no commit);
  - `driver commit`: one INSERT of a ~700-byte row and its COMMIT on a kept connection
    (PostgreSQL: psycopg, `synchronous_commit` on, i.e. WAL flushed by fdatasync before the
    answer; SQLite: sqlite3 in WAL mode with `synchronous=FULL`, as durable as the store);
  - `ledger wait`: what a request at 1 connection waits for in `before_response` mode: the
    server's own path (`LoopWriter` and the commit process), an admission queued with
    linger and the settlement awaited, two events in one transaction.
Prints one JSON line per store and step: p50, p90, p99 in ms. The gap between `ledger wait`
and `driver commit` is what the ledger adds to the floor. Each store is its own: a SQLite
file in a temporary folder, a PostgreSQL database `govledger_bench_floor` created and dropped
here (admin URL from GOVLEDGER_BENCH_PG_ADMIN). Not a test of the suite (timed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ledger_append import request_events  # noqa: E402
from govledger.ledger.commit_process import CommitProcess  # noqa: E402
from govledger.ledger.loop_writer import LoopWriter  # noqa: E402
from govledger.ledger.store import Store  # noqa: E402

PG_ADMIN = os.environ.get(
    "GOVLEDGER_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
PG_NAME = "govledger_bench_floor"
ROW = b"x" * 700  # about one stored settlement


def quantiles(samples: list[float]) -> dict[str, float]:
    """p50, p90 and p99 of samples in seconds, as milliseconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": cuts[49] * 1e3, "p90_ms": cuts[89] * 1e3, "p99_ms": cuts[98] * 1e3}


def timed(step: Callable[[], None], count: int) -> list[float]:
    """Wall time of `count` calls of step(), after 50 unmeasured ones."""
    for _ in range(50):
        step()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        step()
        samples.append(time.perf_counter() - started)
    return samples


def postgres_driver(url: str, count: int) -> dict[str, list[float]]:
    """`SELECT 1` and one INSERT + COMMIT on one kept psycopg connection."""
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE floor_probe (id bigserial PRIMARY KEY, state bytea)")
        conn.commit()
        conn.autocommit = True

        def round_trip() -> None:
            conn.execute("SELECT 1").fetchone()

        def commit() -> None:
            conn.execute("INSERT INTO floor_probe (state) VALUES (%s)", (ROW,))
            conn.commit()

        trips = timed(round_trip, count)
        conn.autocommit = False
        commits = timed(commit, count)
    return {"round trip": trips, "driver commit": commits}


def sqlite_driver(path: Path, count: int) -> dict[str, list[float]]:
    """One INSERT + COMMIT on one kept sqlite3 connection, WAL, synchronous=FULL."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE floor_probe (id INTEGER PRIMARY KEY, state BLOB)")

    def commit() -> None:
        conn.execute("BEGIN")
        conn.execute("INSERT INTO floor_probe (state) VALUES (?)", (ROW,))
        conn.execute("COMMIT")

    try:
        return {"driver commit": timed(commit, count)}
    finally:
        conn.close()


def ledger_wait(url: str, count: int) -> list[float]:
    """Per request: an admission queued with linger, then the settlement awaited."""

    async def measure() -> list[float]:
        store = Store(url)
        commits = CommitProcess(url)
        commits.start()
        commits.ping("usage")
        writer = LoopWriter(store, commits)
        writer.start(asyncio.get_running_loop())
        samples = []
        try:
            for index in range(count + 50):
                admitted, settled = request_events(1)
                started = time.perf_counter()
                writer.submit("usage", [admitted], lambda _e, _i: None, linger=True)
                await writer.append("usage", [settled])
                if index >= 50:
                    samples.append(time.perf_counter() - started)
        finally:
            await writer.close()
            commits.stop()
            store.close()
        return samples

    return asyncio.run(measure())


def report(store: str, step: str, samples: list[float]) -> None:
    """One JSON line."""
    row = {"store": store, "step": step, "count": len(samples), **quantiles(samples)}
    row = {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}
    print(json.dumps(row), flush=True)


def run_postgres(count: int) -> None:
    """The PostgreSQL floor and the ledger's wait, in a database of this run's own."""
    import psycopg

    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + PG_NAME
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{PG_NAME}"')
    try:
        for step, samples in postgres_driver(url, count).items():
            report("postgres", step, samples)
        report("postgres", "ledger wait", ledger_wait(url, count))
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)')


def run_sqlite(count: int) -> None:
    """The SQLite floor and the ledger's wait, in files of a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="govledger-floor-") as tmp:
        for step, samples in sqlite_driver(Path(tmp) / "probe.db", count).items():
            report("sqlite", step, samples)
        report("sqlite", "ledger wait", ledger_wait(f"sqlite:///{tmp}/ledger.db", count))


def main() -> None:
    """Parse the flags and time each store."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--commits", type=int, default=2000)
    args = parser.parse_args()
    print(json.dumps({"load": Path("/proc/loadavg").read_text().split()[:3]}), flush=True)
    for store in args.stores.split(","):
        {"sqlite": run_sqlite, "postgres": run_postgres}[store](args.commits)


if __name__ == "__main__":
    main()
