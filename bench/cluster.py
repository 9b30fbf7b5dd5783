"""Cluster mode side by side: 1, 2 and 3 `govledger serve` instances on one PostgreSQL.

One strict budget large enough never to refuse, so every request is admitted against a
leased allotment; the requests are split evenly over the instances. Prints, per setup,
requests/s served and the allotment events per 1,000 requests (the cost of leasing), with
the same single instance with allotments off, and on SQLite, for comparison. With `--rate`,
the key also has a request rate limit too large to refuse (10^7 per minute), and the table
counts the rate limit's book events only (grants and returns of its shared GCRA book).

Run from the repository root:
    PYTHONPATH=. .venv/bin/python bench/cluster.py [--requests 3000] [--concurrency 48] [--rate]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from govledger.ledger import events as ev
from govledger.ledger.store import Store
from tests.e2e.openai_support import budget, make_config, virtual_key
from tests.faults.harness import LoadPlan, MockUpstreamProcess, ServedGateway, run_load

PG_URL = os.environ.get("GOVLEDGER_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CONFIG = make_config(keys=[virtual_key(budgets=[budget("100000")])])
RATED = make_config(
    keys=[
        virtual_key(
            budgets=[budget("100000")],
            rate_limit={"request_max_limit": 10_000_000, "request_reset_duration": "1m"},
        )
    ]
)


def new_database() -> str:
    """A fresh database on the bench server (dropped by `drop`)."""
    name = f"gl_bench_cluster_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_URL.rsplit("/", 1)[0] + "/" + name


def drop(url: str) -> None:
    """Drop a database `new_database` made."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def allotment_events(url: str, rate_only: bool = False) -> int:
    """How many allotment events the usage log holds (only rate books' if `rate_only`)."""
    store = Store(url, create_tables=False)
    try:
        return sum(
            1
            for _, e in store.iterate("usage")
            if isinstance(e, ev.AllotmentEvent) and (not rate_only or e.budget.startswith("rate:"))
        )
    finally:
        store.close()


async def drive(
    gateways: list[ServedGateway], requests: int, concurrency: int
) -> tuple[int, float]:
    """Split the requests over the gateways; returns (served, seconds)."""
    share, each = requests // len(gateways), max(concurrency // len(gateways), 1)
    plans = [
        LoadPlan(requests=share, concurrency=each, stream_share=0.0, seed=n, deadline_s=120)
        for n in range(len(gateways))
    ]
    began = time.monotonic()
    results = await asyncio.gather(
        *(run_load(g.url, p, []) for g, p in zip(gateways, plans, strict=True))
    )
    took = time.monotonic() - began
    return sum(len(r.served) for r in results), took


def run(setup: str, instances: int, args: argparse.Namespace, upstream: str) -> dict[str, Any]:
    """One setup: start the instances, warm them, drive the load, stop them."""
    sqlite = setup == "sqlite"
    rated = setup.endswith("rate limited")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/ledger.sqlite" if sqlite else new_database()
        env = {"GOVLEDGER_SECRET_KEY_FILE": f"{tmp}/secret.key"}
        if not sqlite:  # explicit, whatever the default is
            env["GOVLEDGER_ALLOTMENTS"] = "off" if setup.endswith("allotments off") else "on"
        gateways = []
        try:
            for n in range(instances):
                workdir = Path(tmp) / f"g{n}"
                workdir.mkdir()
                config = RATED if rated else CONFIG
                gateway = ServedGateway(workdir, url, config, upstream, f"bench{n}", env)
                gateway.start()
                gateways.append(gateway)
            asyncio.run(drive(gateways, 60 * instances, instances))  # warm
            before = 0 if sqlite else allotment_events(url, rated)
            served, took = asyncio.run(drive(gateways, args.requests, args.concurrency))
            events = 0 if sqlite else allotment_events(url, rated) - before
        finally:
            for gateway in gateways:
                gateway.stop()
                gateway.close()
            if not sqlite:
                drop(url)
    return {
        "setup": setup,
        "instances": instances,
        "served": served,
        "req_s": round(served / took, 1),
        "allotment_events_per_1000": round(1000 * events / max(served, 1), 2),
    }


def main() -> None:
    """Run every setup and print a Markdown table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=48)
    parser.add_argument("--rate", action="store_true", help="a rate-limited key (1, 2, 3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        upstream = MockUpstreamProcess(Path(tmp), latency_ms=0)
        upstream.start()
        try:
            if args.rate:
                rows = [run("postgres, rate limited", n, args, upstream.url) for n in (1, 2, 3)]
            else:
                rows = [run("sqlite", 1, args, upstream.url)]
                rows.append(run("postgres, allotments off", 1, args, upstream.url))
                rows += [run("postgres", n, args, upstream.url) for n in (1, 2, 3)]
        finally:
            upstream.close()
    print("| setup | instances | served | req/s | allotment events per 1,000 requests |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['setup']} | {r['instances']} | {r['served']} | {r['req_s']} | "
            f"{r['allotment_events_per_1000']} |"
        )


if __name__ == "__main__":
    main()
