"""The hot path's regressions guard: CPU per request of this tree against a base, side by side.

    .venv/bin/python bench/smoke.py                  # the working tree against HEAD
    .venv/bin/python bench/smoke.py --base main      # or any git ref
    .venv/bin/python bench/smoke.py --base none      # this tree alone (figures only)
    .venv/bin/python bench/smoke.py --base none --flames bench/flames/x   # py-spy, per process

Run it before committing a change to the hot path (server, flow, upstream, writer, commit and
projection processes). Each round starts `govledger serve` on a fresh SQLite file (or
PostgreSQL with `--store postgres`) in front of one fake upstream process, warms it up, sends
`--requests` chat completions over `--connections` connections from this process (aiohttp),
and reads the CPU time (utime + stime, /proc) of the server and of each of its helper
processes before and after. The trees alternate (A B B A ...) so the machine's load falls on
both; the median of the rounds is compared.

It fails (exit 1) when any request is not answered 200 with `choices`, when the ledger does not
hold one settlement per request answered, or when this tree's CPU per request (the whole
process group) is more than `--tolerance` (15%) above the base's. CPU time, not req/s, is
the figure: on a shared machine it moves far less with other people's load. The base tree is
`git archive`d into a temporary folder and run on this venv (PYTHONPATH), so a change of
dependencies is not measured. It is not a test of the suite: it takes about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psycopg

from govledger.ledger import events as ev
from govledger.ledger.store import Store

ROOT = Path(__file__).resolve().parents[1]
TICK_S = 1 / os.sysconf("SC_CLK_TCK")
CREATED: list[str] = []  # PostgreSQL databases made by this run, dropped at its end
KEY = "sk-bf-bench-0000000000000000"
BODY = json.dumps(
    {"model": "bench-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}
).encode()


@dataclass
class Round:
    """What one run of one tree measured."""

    tree: str
    requests: int
    seconds: float
    cpu_s: dict[str, float]  # process label -> CPU seconds during the measured requests
    latencies_ms: list[float] = field(repr=False)
    settled: int

    @property
    def cpu_us_per_request(self) -> float:
        """CPU of the whole process group per request, in microseconds."""
        return sum(self.cpu_s.values()) / self.requests * 1e6

    def line(self) -> str:
        """One line of figures."""
        lat = sorted(self.latencies_ms)
        parts = ", ".join(f"{k} {v / self.requests * 1e6:.0f}" for k, v in self.cpu_s.items())
        return (
            f"{self.tree:>5}: {self.cpu_us_per_request:7.0f} us CPU/request ({parts}); "
            f"{self.requests / self.seconds:6.0f} req/s; p50 {lat[len(lat) // 2]:.2f} ms, "
            f"p99 {lat[int(len(lat) * 0.99)]:.2f} ms, p99.9 {lat[int(len(lat) * 0.999)]:.2f} ms, "
            f"max {lat[-1]:.1f} ms; {self.settled} settled"
        )


def bench_config(upstream_port: int, durability: str | None) -> dict[str, object]:
    """bench/govledger-bench.json pointed at the fake upstream (and `ledger.durability`)."""
    config: dict[str, object] = json.loads((ROOT / "bench/govledger-bench.json").read_text())
    providers = config["providers"]
    assert isinstance(providers, list)
    providers[0]["base_url"] = f"http://127.0.0.1:{upstream_port}/v1"
    if durability is not None:
        config["ledger"] = {"durability": durability}
    return config


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_S


def helpers(pid: int) -> dict[str, int]:
    """The server's helper processes by label (spawned in this order: commit, projections)."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    labels: dict[str, int] = {}
    spawned = 0
    for child in sorted(int(p) for p in out.stdout.split()):
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"resource_tracker" in cmdline:
            labels["tracker"] = child
        else:
            labels[("commit", "projections")[spawned] if spawned < 2 else f"child{spawned}"] = child
            spawned += 1
    return labels


def group_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of the server and each helper."""
    found = {"server": pid, **helpers(pid)}
    return {label: cpu_seconds(p) for label, p in found.items()}


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    """Poll until the URL answers 200, or fail if the process exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the process exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - our own server
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url}: not ready after {timeout_s:.0f} s")


async def load(url: str, requests: int, connections: int) -> tuple[list[float], float, int]:
    """Send `requests` over `connections`; latencies (ms), wall seconds and failures."""
    latencies: list[float] = []
    failures = 0
    remaining = requests
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal remaining, failures
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            async with session.post(url, data=BODY, headers=headers) as response:
                text = await response.read()
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status != 200 or b'"choices"' not in text:
                failures += 1

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(connections)))
        return latencies, time.perf_counter() - started, failures


def settled_in(database_url: str) -> int:
    """RequestSettled events in the usage log of the store."""
    store = Store(database_url, create_tables=False)
    try:
        return sum(isinstance(e, ev.RequestSettled) for _, e in store.iterate("usage"))
    finally:
        store.close()


def run_tree(
    label: str, tree: Path, args: argparse.Namespace, config: Path, work: Path, n: int
) -> Round:
    """Start the gateway of one tree, measure, stop it."""
    folder = work / f"{label}-{n}"
    folder.mkdir()
    db = folder / "ledger.sqlite"
    url = f"sqlite:///{db}" if args.store == "sqlite" else fresh_database(args.postgres_url, n)
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "GOVLEDGER_DATABASE_URL": url,
        "GOVLEDGER_SECRET_KEY_FILE": str(folder / "secret.key"),
        "GOVLEDGER_LOG_LEVEL": "warning",
    }
    command = [sys.executable, "-m", "govledger", "serve", "--config", str(config)]
    proc = subprocess.Popen([*command, "--port", str(args.port)], env=env, cwd=folder)
    base = f"http://127.0.0.1:{args.port}"
    try:
        wait_ready(f"{base}/readyz", proc)
        chat = f"{base}/v1/chat/completions"
        _, _, warm_failures = asyncio.run(load(chat, args.warmup, args.connections))
        profilers = (
            record_flames(proc.pid, args.flames / label, args.flame_format) if args.flames else []
        )
        before = group_cpu(proc.pid)
        latencies, seconds, failures = asyncio.run(load(chat, args.requests, args.connections))
        after = group_cpu(proc.pid)
        for profiler in profilers:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    if warm_failures or failures:
        raise SystemExit(f"{label}: {warm_failures + failures} request(s) not answered 200")
    cpu = {k: after[k] - before.get(k, 0.0) for k in after if k != "tracker"}
    settled = settled_in(url)
    expected = args.warmup + args.requests
    if settled != expected:
        raise SystemExit(f"{label}: {settled} settlements in the ledger for {expected} answers")
    return Round(label, args.requests, seconds, cpu, latencies, settled)


def record_flames(pid: int, folder: Path, form: str) -> list[subprocess.Popen[bytes]]:
    """py-spy recording each process of the group (server, commit, projections) until SIGINT."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = {"flamegraph": "svg", "speedscope": "json", "raw": "txt"}[form]
    spy = str(Path(sys.executable).parent / "py-spy")
    found = {"server": pid, **helpers(pid)}
    return [
        subprocess.Popen(
            [spy, "record", "--pid", str(p), "--rate", "200", "--nonblocking", "--format", form]
            + ["--output", str(folder / f"{label}.{suffix}")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for label, p in found.items()
        if label != "tracker"
    ]


def fresh_database(server_url: str, n: int) -> str:
    """A new, empty PostgreSQL database on the server of `server_url` (dropped first if left)."""
    name = f"govledger_smoke_{os.getpid()}_{n}_{len(CREATED)}"
    base, _, _ = server_url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name}")
        connection.execute(f"CREATE DATABASE {name}")
    CREATED.append(f"{base}/{name}")
    return CREATED[-1]


def drop_databases() -> None:
    """Drop every database this run created."""
    for url in CREATED:
        base, _, name = url.rpartition("/")
        with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def export_tree(ref: str, into: Path) -> Path:
    """The files of a git ref, extracted into a folder."""
    archive = into / "base.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), ref], check=True)
    tree = into / "base"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    return tree


def main() -> None:
    """Measure, print, and exit 1 on a failure or a regression."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD", help="git ref to compare with, or 'none'")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each tree")
    parser.add_argument("--tolerance", type=float, default=0.15)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="the server for --store postgres: a fresh database per round, dropped after",
    )
    parser.add_argument(
        "--durability",
        choices=("before_response", "after_response"),
        help="ledger.durability in the config (a base older than the setting refuses it)",
    )
    parser.add_argument("--flames", type=Path, help="write a py-spy profile per process here")
    parser.add_argument(
        "--flame-format", choices=("flamegraph", "speedscope", "raw"), default="flamegraph"
    )
    parser.add_argument("--port", type=int, default=18490)
    parser.add_argument("--upstream-port", type=int, default=18491)
    args = parser.parse_args()
    # A SIGTERM unwinds like Ctrl-C, so the servers and the fake upstream are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    with tempfile.TemporaryDirectory(prefix="govledger-smoke-") as tmp:
        work = Path(tmp)
        trees = {"this": ROOT}
        if args.base != "none":
            trees["base"] = export_tree(args.base, work)
        config = work / "config.json"
        config.write_text(json.dumps(bench_config(args.upstream_port, args.durability)))
        upstream = subprocess.Popen(
            [sys.executable, "-m", "govledger", "mock-upstream"]
            + ["--port", str(args.upstream_port)],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        rounds: list[Round] = []
        try:
            wait_ready(f"http://127.0.0.1:{args.upstream_port}/v1/models", upstream)
            order = list(trees)
            for n in range(args.rounds):
                for label in order if n % 2 == 0 else reversed(order):
                    measured = run_tree(label, trees[label], args, config, work, n)
                    print(measured.line(), flush=True)
                    rounds.append(measured)
        finally:
            upstream.terminate()
            upstream.wait(timeout=30)
            drop_databases()

    median = {
        label: statistics.median(r.cpu_us_per_request for r in rounds if r.tree == label)
        for label in trees
    }
    print(" ".join(f"{label} median {us:.0f} us CPU/request;" for label, us in median.items()))
    if "base" in median:
        ratio = median["this"] / median["base"]
        print(f"this / base = {ratio:.3f} (tolerance {1 + args.tolerance:.2f})")
        if ratio > 1 + args.tolerance:
            raise SystemExit(f"REGRESSION: {ratio:.2f}x the base's CPU per request")


if __name__ == "__main__":
    main()
