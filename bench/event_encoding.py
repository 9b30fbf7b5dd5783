"""The event encoder, the library's against the store's (`LedgerTranscoder`), side by side.

    .venv/bin/python bench/event_encoding.py [--repeats 15] [--seconds 5] [--rounds 1]
        [--pg-url postgresql://postgres@127.0.0.1:5432/govledger_bench_encoding]

Prints the CPU per event of `mapper.to_stored_event` for each transcoder (best of
--repeats, the two taking turns, over one 64-request batch of `bench/ledger_append.py`'s
events), then the server's path
(`loop_writer_rate`: LoopWriter, commit process, 64 asyncio callers) on PostgreSQL in the
order A B B A per round, A the library's transcoder and B the store's. The database named
by --pg-url is dropped and created.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eventsourcing.persistence import (  # noqa: E402
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    UUIDAsHex,
)

from bench.ledger_append import loop_writer_rate, request_events, reset  # noqa: E402
from govledger.ledger.store import Store  # noqa: E402
from govledger.ledger.transcoder import LedgerTranscoder  # noqa: E402


def transcoder(kind: type[JSONTranscoder]) -> JSONTranscoder:
    """A transcoder with the store applications' transcodings."""
    made = kind()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        made.register(transcoding)
    return made


def cpu_per_event(mappers: list[Mapper[Any]], repeats: int) -> list[float]:
    """Best CPU µs per event of each mapper's `to_stored_event` over one 64-request batch,
    20 passes a repeat, the mappers taking turns in each repeat."""
    batch = request_events(64)
    best = [float("inf")] * len(mappers)
    for _ in range(repeats):
        for index, mapper in enumerate(mappers):
            started = time.process_time()
            for _ in range(20):
                for event in batch:
                    mapper.to_stored_event(event)
            took = (time.process_time() - started) / (20 * len(batch))
            best[index] = min(best[index], took * 1e6)
    return best


def server_path(url: str, kind: type[JSONTranscoder], seconds: float) -> tuple[float, float]:
    """Events/s and mean batch of the server's path with the given transcoder."""
    reset(url)
    store = Store(url)
    try:
        for app in store.apps.values():
            app.mapper.transcoder = transcoder(kind)
        return loop_writer_rate(url, store, seconds)
    finally:
        store.close()


def main() -> None:
    """Encoding CPU per event, then the server's path A B B A."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "GOVLEDGER_BENCH_PG_URL",
            "postgresql://postgres@127.0.0.1:5432/govledger_bench_encoding",
        ),
    )
    args = parser.parse_args()
    print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()), flush=True)
    old, new = cpu_per_event(
        [Mapper(transcoder(JSONTranscoder)), Mapper(transcoder(LedgerTranscoder))], args.repeats
    )
    print(f"to_stored_event CPU µs/event: library {old:.1f}, store's {new:.1f}", end="")
    print(f", ratio {new / old:.2f}")
    kinds = {"A": JSONTranscoder, "B": LedgerTranscoder}
    rates: dict[str, list[float]] = {"A": [], "B": []}
    for _ in range(args.rounds):
        for label in "ABBA":
            rate, batch = server_path(args.pg_url, kinds[label], args.seconds)
            rates[label].append(rate)
            print(
                f"server path {label} ({kinds[label].__name__}): {rate:,.0f} events/s, "
                f"mean batch {batch:.0f}",
                flush=True,
            )
    a, b = sum(rates["A"]) / len(rates["A"]), sum(rates["B"]) / len(rates["B"])
    print(f"server path mean: A {a:,.0f}, B {b:,.0f} events/s, ratio B/A {b / a:.2f}")
    print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()), flush=True)


if __name__ == "__main__":
    main()
