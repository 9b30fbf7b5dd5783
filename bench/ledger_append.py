"""Ledger benchmark: appends through the writer, rebuild speed and cold start.

    .venv/bin/python bench/ledger_append.py [--stores sqlite,postgres] [--events 1000000]

Prints, for each store: events/s through the threaded writer (and its commit process)
when one caller appends batches of 1, 10 and 100 events and waits for each commit; when
64 threads append one event at a time; and through the server's own path (LoopWriter,
64 asyncio callers each queueing an admission and awaiting a settlement);
then it fills the store to --events usage events, times `rebuild_views`, and times
`govledger serve` from launch until /readyz answers 200. `--server-path-only`: only the
server's path, on an empty store.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.thread_writer import Writer  # noqa: E402
from govledger.ledger import events as ev  # noqa: E402
from govledger.ledger.commit_process import CommitProcess  # noqa: E402
from govledger.ledger.store import Store  # noqa: E402
from govledger.projections.rebuild import rebuild_views  # noqa: E402

PG_URL = os.environ.get(
    "GOVLEDGER_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/govledger_bench"
)


def request_events(n: int) -> list[ev.LedgerEvent]:
    """An admitted and a settled event for each of n requests, like the gateway writes."""
    out: list[ev.LedgerEvent] = []
    now = datetime.now(UTC)
    period = now.replace(hour=0, minute=0, second=0, microsecond=0).isoformat()
    for _ in range(n):
        rid = uuid.uuid4()
        reservations = [
            {"budget": f"{scope}#1d", "period": period, "amount": Decimal("0.000050")}
            for scope in ("virtual_key:bench", "team:eng", "customer:acme")
        ]
        rate = [
            {
                "limit": "virtual_key:bench#requests",
                "kind": "requests",
                "amount": 1,
                "capacity": 1000000,
                "window_s": 60.0,
            }
        ]
        out.append(
            ev.RequestAdmitted(
                originator_id=rid,
                originator_version=1,
                timestamp=now,
                request_id=rid.hex,
                instance="bench",
                incarnation="bench",
                key_id="bench",
                team_id="eng",
                customer_id="acme",
                surface="openai_chat",
                model="bench-model",
                provider=None,
                reservations=reservations,
                rate=rate,
                estimate={"input": 40, "output": 16, "cost": Decimal("0.000050")},
                headers={},
            )
        )
        out.append(
            ev.RequestSettled(
                originator_id=rid,
                originator_version=2,
                timestamp=now,
                request_id=rid.hex,
                instance="bench",
                incarnation="bench",
                status="ok",
                reason="",
                provider="nginx",
                provider_key_id="k1",
                model="bench-model",
                tokens={"input": 9, "output": 7, "cached": 0, "reasoning": 0},
                cost=Decimal("0.000023"),
                price_source="override",
                charges=[{**r, "amount": Decimal("0.000023")} for r in reservations],
                rate=[],
                attempts=[
                    {"provider": "nginx", "key_id": "k1", "status": 200, "error": "", "ms": 0.3}
                ],
                latency_ms=0.5,
            )
        )
    return out


def reset(url: str) -> None:
    """Start from an empty store."""
    if url.startswith("postgresql"):
        import psycopg

        admin = url.rsplit("/", 1)[0] + "/postgres"
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')


def serial_rates(writer: Writer, seconds: float) -> dict[int, float]:
    """Events/s for one caller appending batches of 1, 10 and 100 and awaiting each."""
    rates = {}
    for size in (1, 10, 100):
        pool = request_events(max(size, 2000) // 2 + size)
        started, count, i = time.perf_counter(), 0, 0
        while time.perf_counter() - started < seconds:
            batch = pool[i : i + size]
            if len(batch) < size:
                pool, i = request_events(max(size, 2000) // 2 + size), 0
                continue
            writer.append_sync("usage", batch)
            i += size
            count += size
        rates[size] = count / (time.perf_counter() - started)
    return rates


def concurrent_rate(writer: Writer, seconds: float, callers: int = 64) -> tuple[float, float]:
    """Events/s and mean batch size with many callers appending one event each."""
    stop = time.perf_counter() + seconds
    counts = [0] * callers
    before = (writer.stats.batches, writer.stats.events)

    def caller(index: int) -> None:
        pool = request_events(500)
        j = 0
        while time.perf_counter() < stop:
            if j == len(pool):
                pool, j = request_events(500), 0
            writer.append_sync("usage", [pool[j]])
            j += 1
            counts[index] += 1

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    batches = writer.stats.batches - before[0]
    events = writer.stats.events - before[1]
    return sum(counts) / elapsed, events / max(batches, 1)


def loop_writer_rate(
    url: str, store: Store, seconds: float, callers: int = 64
) -> tuple[float, float]:
    """Events/s and mean batch of the server's path: LoopWriter, 64 asyncio callers, each
    queueing a lingering admission then awaiting a settlement (two events per request)."""
    import asyncio

    from govledger.ledger.loop_writer import LoopWriter

    async def measure() -> tuple[float, float]:
        commits = CommitProcess(url)
        commits.start()
        commits.ping("usage")  # as the server does at start: the child is warm before timing
        writer = LoopWriter(store, commits)
        writer.start(asyncio.get_running_loop())
        stop = time.perf_counter() + seconds
        count = 0

        async def caller() -> None:
            nonlocal count
            while time.perf_counter() < stop:
                admitted, settled = request_events(1)
                writer.submit("usage", [admitted], lambda _e, _i: None, linger=True)
                await writer.append("usage", [settled])
                count += 2

        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(callers)))
        elapsed = time.perf_counter() - started
        await writer.close()
        commits.stop()
        return count / elapsed, writer.stats.events / max(writer.stats.batches, 1)

    return asyncio.run(measure())


def fill(writer: Writer, store: Store, target: int) -> float:
    """Append usage events in batches of 1000 until the store holds `target`; returns events/s."""
    have = store.max_position("usage")
    started = time.perf_counter()
    added = 0
    while have + added < target:
        batch = request_events(min(500, (target - have - added + 1) // 2))
        writer.append_sync("usage", batch)
        added += len(batch)
    return added / max(time.perf_counter() - started, 1e-9)


def cold_start(url: str, workdir: Path) -> float:
    """Seconds from launching `govledger serve` to /readyz answering 200."""
    port = 18299
    env = {
        **os.environ,
        "GOVLEDGER_DATABASE_URL": url,
        "GOVLEDGER_SECRET_KEY_FILE": str(workdir / "secret.key"),
    }
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "govledger"),
            "serve",
            "--port",
            str(port),
            "--config",
            str(ROOT / "bench" / "govledger-bench.json"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        while time.perf_counter() - started < 120:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:  # noqa: S310
                    if r.status == 200:
                        return time.perf_counter() - started
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(
                        proc.stderr.read().decode() if proc.stderr else "died"
                    ) from None
                time.sleep(0.02)
        raise RuntimeError("not ready after 120 s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def server_path(name: str, url: str, seconds: float) -> dict[str, object]:
    """Only the server's own path (`--server-path-only`), on an empty store."""
    reset(url)
    store = Store(url)
    try:
        rate, mean_batch = loop_writer_rate(url, store, seconds)
    finally:
        store.close()
    return {
        "store": name,
        "server_path_64_async_callers_events_per_s": round(rate),
        "server_path_mean_batch": round(mean_batch, 1),
        "load": Path("/proc/loadavg").read_text().split()[0],
    }


def run(name: str, url: str, events: int, seconds: float, workdir: Path) -> dict[str, object]:
    """Every measurement on one store."""
    reset(url)
    store = Store(url)
    commits = CommitProcess(url)
    writer = Writer(store, insert=commits.insert)
    commits.start()
    writer.start()
    result: dict[str, object] = {"store": name}
    serial = serial_rates(writer, seconds)
    result.update({f"append_batch_{k}_events_per_s": round(v) for k, v in serial.items()})
    rate, mean_batch = concurrent_rate(writer, seconds)
    result["append_64_callers_events_per_s"] = round(rate)
    result["append_64_callers_mean_batch"] = round(mean_batch, 1)
    result["fill_events_per_s"] = round(fill(writer, store, events))
    writer.stop()
    commits.stop()
    rate, mean_batch = loop_writer_rate(url, store, seconds)
    result["server_path_64_async_callers_events_per_s"] = round(rate)
    result["server_path_mean_batch"] = round(mean_batch, 1)
    total = store.max_position("usage")
    result["events_in_store"] = total
    started = time.perf_counter()
    rebuild_views(store, url)
    took = time.perf_counter() - started
    result["rebuild_seconds"] = round(took, 1)
    result["rebuild_events_per_s"] = round(total / took)
    store.close()
    result["cold_start_seconds"] = round(cold_start(url, workdir), 2)
    return result


def main() -> None:
    """Parse arguments, run each store, print one JSON line per store and a table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--server-path-only", action="store_true", help="only the server's path (LoopWriter)"
    )
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="govledger-bench-") as tmp:
        workdir = Path(tmp)
        for name in args.stores.split(","):
            url = f"sqlite:///{workdir}/ledger.sqlite" if name == "sqlite" else PG_URL
            if args.server_path_only:
                result = server_path(name, url, args.seconds)
            else:
                result = run(name, url, args.events, args.seconds, workdir)
            print(json.dumps(result), flush=True)
            results.append(result)
    keys = [k for k in results[0] if k != "store"]
    print("\n" + "metric".ljust(34) + "".join(str(r["store"]).rjust(14) for r in results))
    for key in keys:
        print(key.ljust(34) + "".join(str(r[key]).rjust(14) for r in results))


if __name__ == "__main__":
    main()
