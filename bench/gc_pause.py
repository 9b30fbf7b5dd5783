"""How long a full garbage-collector pass takes in a running gateway, start-up heap frozen or not.

    PYTHONPATH=. .venv/bin/python bench/gc_pause.py [--keys 1 10000] [--passes 5]

Starts the gateway in this process (`tests/conftest.start_gateway`, SQLite in a temporary
folder; the bench config for 1 key, `bench/memory_keys.py`'s for more), which freezes the
heap after start-up (`govledger/ledger/heap.py`); times `gc.collect()` frozen, then unfreezes
and times it again. Prints one JSON line per config. The process also holds the test
support's imports, so its heap is a little larger than `govledger serve`'s.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def passes(n: int) -> tuple[float, float]:
    """The shortest and longest of n full passes, in ms."""
    took = []
    for _ in range(n):
        started = time.perf_counter()
        gc.collect()
        took.append((time.perf_counter() - started) * 1000)
    return min(took), max(took)


def config(keys: int) -> dict[str, Any]:
    """The bench config (1 key) or memory_keys' config, routed to the fake upstream."""
    if keys == 1:
        raw: dict[str, Any] = json.loads((ROOT / "bench/govledger-bench.json").read_text())
    else:
        from bench.memory_keys import config as many

        raw = many(keys, 1)
    raw["providers"][0]["base_url"] = "{MOCK}/v1"
    return raw


def main() -> None:
    """Measure each config and print its line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, nargs="+", default=[1, 10_000])
    parser.add_argument("--passes", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.conftest import start_gateway

    for keys in args.keys:
        with tempfile.TemporaryDirectory(prefix="govledger-gc-") as tmp:
            gateway = start_gateway(f"sqlite:///{tmp}/ledger.sqlite", config(keys), Path(tmp))
            try:
                frozen = gc.get_freeze_count()
                fast = passes(args.passes)
                gc.unfreeze()
                slow = passes(args.passes)
                gc.freeze()  # as the server had it, so that it thaws as usual when stopped
            finally:
                gateway.stop()
        line = {
            "keys": keys,
            "objects_frozen": frozen,
            "full_pass_ms_not_frozen": [round(t, 1) for t in slow],
            "full_pass_ms_frozen": [round(t, 1) for t in fast],
        }
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
