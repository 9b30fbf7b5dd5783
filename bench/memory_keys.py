"""Resident memory of a running gateway with many virtual keys.

    .venv/bin/python bench/memory_keys.py [--keys 10000] [--requests 2000]

Writes a config with N virtual keys (each with a budget and a rate limit, under 100 teams),
starts `govledger serve` on SQLite, sends requests spread over all the keys (so every key's
policy is compiled and has usage state), then prints the server's RSS (VmRSS of the server
process and of its helper processes, from /proc).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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


def rss_kib(pid: int) -> int:
    """VmRSS of one process in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    """Direct children of a process."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def main() -> None:
    """Run the measurement and print one line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="govledger-mem-") as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(config(args.keys, 18391)))
        env = {
            **os.environ,
            "GOVLEDGER_DATABASE_URL": f"sqlite:///{tmp}/ledger.sqlite",
            "GOVLEDGER_SECRET_KEY_FILE": f"{tmp}/secret.key",
        }
        started = time.perf_counter()
        proc = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/govledger"),
                "serve",
                "--config",
                str(path),
                "--port",
                "18390",
                "--mock-upstream",
                "18391",
            ],
            env=env,
        )
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
            main_rss = rss_kib(proc.pid)
            helper_rss = sum(rss_kib(p) for p in children(proc.pid))
            print(
                json.dumps(
                    {
                        "keys": args.keys,
                        "requests": args.requests,
                        "ready_seconds": round(ready, 1),
                        "server_rss_mib": round(main_rss / 1024, 1),
                        "helper_processes_rss_mib": round(helper_rss / 1024, 1),
                    }
                )
            )
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
