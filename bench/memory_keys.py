"""Memory of a running gateway's process group with many virtual keys, per process.

    .venv/bin/python bench/memory_keys.py [--keys 10000] [--requests 10000]
        [--tree PATH ...] [--rounds N] [--probe DIR [--trace FRAMES]]

Writes a config with N virtual keys (each with a budget and a rate limit, under 100 teams of
10 customers, each with a budget), starts `govledger serve` on SQLite, sends requests spread
over all the keys (so every key's policy is compiled and has usage state), and reads each
process of the group (the server, the commit process, the projection process) from /proc:
RSS (`VmRSS`) and PSS (`Pss:` of `smaps_rollup`), once idle after start-up and once after the
requests, each time after the projection process has caught up (its CPU time still for a
second). RSS counts a shared library page once in every process that maps it, so the RSS
sum over-counts the group; the PSS sum splits each shared page between its processes and is
the group's real footprint.

`--tree PATH` (repeatable) runs the server from that source tree (PYTHONPATH=PATH); with
several trees and `--rounds N` the trees alternate (A B A B ...), and a last line gives
each tree's median and its ratio to the first tree's. `--probe DIR` runs the server through
`bench/memory_probe.py` and writes its report after the requests to DIR (`--trace N`: with
tracemalloc keeping N frames; its RSS is then not comparable).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
COMMAND = Path(sys.executable).with_name("govledger")  # the venv's console script


def config(keys: int, mock_port: int) -> dict[str, object]:
    """A config with `keys` virtual keys under 100 teams of 10 customers."""
    return {
        "providers": [
            {
                "name": "mock",
                "type": "openai",
                "base_url": f"http://127.0.0.1:{mock_port}/v1",
                "keys": [{"id": "k", "value": "sk-mock"}],
            }
        ],
        "pricing_overrides": [
            {"provider": "openai", "model": "m", "input_per_mtok": "1", "output_per_mtok": "2"}
        ],
        "customers": [
            {
                "id": f"c{i}",
                "name": f"c{i}",
                "budgets": [{"max_limit": "1000", "reset_duration": "1M"}],
            }
            for i in range(10)
        ],
        "teams": [
            {
                "id": f"t{i}",
                "name": f"t{i}",
                "customer_id": f"c{i % 10}",
                "budgets": [{"max_limit": "100", "reset_duration": "1d"}],
            }
            for i in range(100)
        ],
        "virtual_keys": [
            {
                "id": f"k{i}",
                "name": f"key {i}",
                "value": f"sk-bf-mem-{i:012d}",
                "team_id": f"t{i % 100}",
                "budgets": [{"max_limit": "10", "reset_duration": "1d"}],
                "rate_limit": {"request_max_limit": 1000, "request_reset_duration": "1m"},
                "provider_configs": [{"provider": "mock"}],
            }
            for i in range(keys)
        ],
    }


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in KiB, from smaps_rollup."""
    rss = pss = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        if name == "Rss":
            rss = int(rest.split()[0])
        elif name == "Pss":
            pss = int(rest.split()[0])
    return rss, pss


def stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def cpu_ticks(pid: int) -> int:
    """User plus system CPU time of a process, in clock ticks."""
    fields = stat(pid)
    return int(fields[11]) + int(fields[12])


def children(pid: int) -> list[int]:
    """Direct children of a process."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def roles(server: int) -> dict[str, int]:
    """The group by role: the projection process is the child that runs niced, and
    multiprocessing's resource tracker (started with the first spawned child) says so."""
    group = {"server": server}
    nice = int(stat(server)[16])
    for child in children(server):
        command = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"resource_tracker" in command:
            role = "resource_tracker"
        else:
            role = "projections" if int(stat(child)[16]) > nice else "commit"
        group[role if role not in group else f"{role}-{child}"] = child
    return group


def settle(pids: list[int], quiet_s: float = 1.0, limit_s: float = 120.0) -> float:
    """Wait until no process of the group used CPU for `quiet_s`; the seconds waited."""
    started = time.perf_counter()
    before = [cpu_ticks(p) for p in pids]
    while time.perf_counter() - started < limit_s:
        time.sleep(quiet_s)
        now = [cpu_ticks(p) for p in pids]
        if now == before:
            break
        before = now
    return round(time.perf_counter() - started, 1)


def snapshot(group: dict[str, int]) -> dict[str, Any]:
    """Each process's RSS and PSS in MiB, and the group's sums."""
    out: dict[str, Any] = {}
    rss_sum = pss_sum = 0
    for role, pid in group.items():
        rss, pss = memory_kib(pid)
        out[role] = {"rss_mib": round(rss / 1024, 1), "pss_mib": round(pss / 1024, 1)}
        rss_sum += rss
        pss_sum += pss
    out["group"] = {"rss_mib": round(rss_sum / 1024, 1), "pss_mib": round(pss_sum / 1024, 1)}
    return out


def run(args: argparse.Namespace, tree: str | None) -> dict[str, Any]:
    """One gateway started, measured idle and after the requests, and stopped."""
    with tempfile.TemporaryDirectory(prefix="govledger-mem-") as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(config(args.keys, 18391)))
        env = {
            **os.environ,
            "GOVLEDGER_DATABASE_URL": f"sqlite:///{tmp}/ledger.sqlite",
            "GOVLEDGER_SECRET_KEY_FILE": f"{tmp}/secret.key",
        }
        if tree is not None:
            env["PYTHONPATH"] = tree
        argv = ["serve", "--config", str(path), "--port", "18390", "--mock-upstream", "18391"]
        command = [str(COMMAND), *argv]
        if args.probe is not None:
            Path(args.probe).mkdir(parents=True, exist_ok=True)
            env["PROBE_OUT"] = str(Path(args.probe) / f"probe-{args.keys}-{time.time():.0f}.json")
            env["PROBE_TRACE"] = str(args.trace)
            command = [sys.executable, str(ROOT / "bench/memory_probe.py"), *argv]
        started = time.perf_counter()
        proc = subprocess.Popen(command, env=env)
        try:
            while True:
                try:
                    with urllib.request.urlopen("http://127.0.0.1:18390/readyz", timeout=1):  # noqa: S310
                        break
                except OSError:
                    if proc.poll() is not None or time.perf_counter() - started > 300:
                        raise SystemExit("the gateway did not start") from None
                    time.sleep(0.1)
            ready = time.perf_counter() - started
            waited = settle(list(roles(proc.pid).values()))
            group = roles(proc.pid)  # now: the projection process nices itself once started
            idle = snapshot(group)
            body = json.dumps(
                {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
            ).encode()
            for i in range(args.requests):
                request = urllib.request.Request(
                    "http://127.0.0.1:18390/v1/chat/completions",
                    data=body,
                    headers={
                        "authorization": f"Bearer sk-bf-mem-{i % args.keys:012d}",
                        "content-type": "application/json",
                    },
                )
                with urllib.request.urlopen(request) as response:  # noqa: S310
                    response.read()
            waited_after = settle(list(group.values()))
            after = snapshot(group)
            line = {
                "tree": tree or str(ROOT),
                "keys": args.keys,
                "requests": args.requests,
                "ready_seconds": round(ready, 1),
                "settled_seconds": [waited, waited_after],
                "idle": idle,
                "after_requests": after,
                "load": os.getloadavg()[0],
            }
            if args.probe is not None:
                os.kill(proc.pid, signal.SIGUSR1)
                urllib.request.urlopen("http://127.0.0.1:18390/healthz").read()  # noqa: S310
                probe = Path(env["PROBE_OUT"])
                for _ in range(600):
                    if probe.exists() and probe.stat().st_size:
                        break
                    time.sleep(0.1)
                line["probe"] = str(probe)
            return line
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    """Run the measurements and print one JSON line per run, then the medians per tree."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--tree", action="append", default=None)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--probe", default=None)
    parser.add_argument("--trace", type=int, default=0)
    args = parser.parse_args()
    trees: list[str | None] = list(args.tree) if args.tree else [None]
    lines: dict[str | None, list[dict[str, Any]]] = {t: [] for t in trees}
    for round_ in range(args.rounds):
        order = trees if round_ % 2 == 0 else trees[::-1]  # A B, B A, ...
        for tree in order:
            line = run(args, tree)
            lines[tree].append(line)
            print(json.dumps(line), flush=True)
    if len(trees) > 1 or args.rounds > 1:
        medians = {}
        for tree, runs in lines.items():
            medians[tree or str(ROOT)] = {
                f"{phase}_{role}_{kind}": statistics.median(r[phase][role][kind] for r in runs)
                for phase in ("idle", "after_requests")
                for role in runs[0][phase]
                for kind in ("rss_mib", "pss_mib")
            }
        first = medians[trees[0] or str(ROOT)]
        summary = {
            tree: {
                **figures,
                "group_pss_ratio": round(
                    figures["after_requests_group_pss_mib"] / first["after_requests_group_pss_mib"],
                    3,
                ),
            }
            for tree, figures in medians.items()
        }
        print(json.dumps({"medians": summary}), flush=True)


if __name__ == "__main__":
    main()
