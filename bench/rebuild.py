"""Rebuild benchmark: fill a store with usage events, then time `rebuild_views`.

    .venv/bin/python bench/rebuild.py [--events 1000000] [--store sqlite|postgres|both]
                                      [--tree REF] [--profile DIR]

For each store: a fresh store (its own SQLite file in a temporary folder, or its own
PostgreSQL database `govledger_bench_rebuild`, created and dropped here) is filled with
--events usage events shaped like the server's (`bench/ledger_append.py`'s fill, through
the commit process), then the rebuild the CLI runs (`rebuild_views`) is timed in a child
process of this tree. With `--tree REF` (any git ref, `git archive`d into a temporary
folder) the same store is rebuilt by that tree too, alternating A B B A, so both figures
come from one run on one machine. With `--profile DIR` each rebuild runs under
`py-spy record -r 50 --idle --format raw`, and the samples are split into reading,
decoding, folding and writing. `uptime` is printed before and after, and beside each
figure; `cpu_seconds` is the rebuild process's own CPU time (PostgreSQL's server work is
not in it), the figure to compare on a loaded machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("GOVLEDGER_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432")
PG_NAME = os.environ.get("GOVLEDGER_BENCH_PG_NAME", "govledger_bench_rebuild")
PHASES = (  # the first frame name found in a stack (leaf first) gives its phase
    ("decode", ("to_domain_event", "decode")),
    ("read", ("select_notifications",)),
    ("write", ("executemany", "execute", "_write_requests", "_write_budgets", "_write_rates")),
    ("fold", ("process",)),
)
CHILD = """
import sys, time, json
sys.path.insert(0, sys.argv[1])
from govledger.ledger.store import Store
from govledger.projections.rebuild import rebuild_views
store = Store(sys.argv[2])
started, cpu = time.perf_counter(), time.process_time()
folded = rebuild_views(store, sys.argv[2])
took, cpu = time.perf_counter() - started, time.process_time() - cpu
store.close()
print(json.dumps({"seconds": took, "cpu_seconds": round(cpu, 2), "folded": folded}))
"""


def uptime() -> str:
    """The load average line of `uptime`."""
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def create_database() -> str:
    """A fresh PostgreSQL database for this bench; returns its URL."""
    import psycopg

    with psycopg.connect(f"{PG_ADMIN}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{PG_NAME}"')
    return f"{PG_ADMIN}/{PG_NAME}"


def drop_database() -> None:
    """Drop the database `create_database` made."""
    import psycopg

    with psycopg.connect(f"{PG_ADMIN}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)')


def fill_store(url: str, events: int) -> float:
    """Fill the store to `events` usage events the way the server writes them; events/s."""
    sys.path.insert(0, str(ROOT))
    from bench.ledger_append import fill
    from bench.thread_writer import Writer
    from govledger.ledger.commit_process import CommitProcess
    from govledger.ledger.store import Store

    store = Store(url)
    commits = CommitProcess(url)
    writer = Writer(store, insert=commits.insert)
    commits.start()
    writer.start()
    try:
        return fill(writer, store, events)
    finally:
        writer.stop()
        commits.stop()
        store.close()


def export_tree(ref: str, into: Path) -> Path:
    """`git archive` a ref of this repository into a folder; returns the folder."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def phases(raw: Path) -> dict[str, float]:
    """Shares of py-spy's raw (collapsed) samples of the main thread per phase of the rebuild."""
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack.startswith("<module> (<string>"):
            continue  # another thread (the store's connection pool, idle): not the rebuild
        names = [f.split(" (")[0].rsplit(".", 1)[-1] for f in reversed(stack.split(";"))]
        phase = next(
            (p for p, marks in PHASES for name in names if name in marks),
            "other",
        )
        counts[phase] += int(n)
    total = sum(counts.values()) or 1
    return {p: round(100 * c / total, 1) for p, c in counts.most_common()}


def rebuild_once(tree: Path, url: str, profile: Path | None) -> dict[str, object]:
    """Run one rebuild of `url` by the code in `tree`, in a child process."""
    command = [sys.executable, "-c", CHILD, str(tree), url]
    if profile is not None:
        spy = Path(sys.executable).with_name("py-spy")
        command = [
            str(spy),
            "record",
            "-r",
            "50",
            "--idle",
            "--format",
            "raw",
            "-o",
            str(profile),
            "--",
            *command,
        ]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    line = [x for x in done.stdout.splitlines() if x.startswith("{")][-1]  # py-spy talks too
    result: dict[str, object] = json.loads(line)
    if profile is not None:
        result["phases_percent"] = phases(profile)
    return result


def run(name: str, url: str, args: argparse.Namespace, trees: dict[str, Path], tmp: Path) -> None:
    """Fill one store, then rebuild it with each tree (A B B A with two trees)."""
    print(f"{name}: filling {args.events} events  [{uptime()}]", flush=True)
    rate = fill_store(url, args.events)
    print(f"{name}: filled at {rate:,.0f} events/s", flush=True)
    order = list(trees) if len(trees) == 1 else [*trees, *reversed(trees)]
    for i, label in enumerate(order):
        profile = Path(args.profile) / f"{name}-{label}-{i}.txt" if args.profile else None
        if profile is not None:
            profile.parent.mkdir(parents=True, exist_ok=True)
        result = rebuild_once(trees[label], url, profile)
        seconds = float(str(result["seconds"]))
        line = {
            "store": name,
            "tree": label,
            "events": args.events,
            "seconds": round(seconds, 2),
            "events_per_s": round(args.events / seconds),
            **{k: v for k, v in result.items() if k != "seconds"},
            "uptime": uptime(),
        }
        print(json.dumps(line), flush=True)


def main() -> None:
    """Parse arguments and run each store."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--tree", help="a git ref to rebuild with too, side by side (A B B A)")
    parser.add_argument("--profile", help="a folder for py-spy's raw profiles")
    args = parser.parse_args()
    stores = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    print(f"start  [{uptime()}]", flush=True)
    with tempfile.TemporaryDirectory(prefix="govledger-rebuild-") as folder:
        tmp = Path(folder)
        trees = {"this": ROOT}
        if args.tree:
            trees[args.tree] = export_tree(args.tree, tmp / "tree")
        for name in stores:
            if name == "sqlite":
                run(name, f"sqlite:///{tmp}/ledger.sqlite", args, trees, tmp)
                continue
            try:
                run(name, create_database(), args, trees, tmp)
            finally:
                drop_database()
    print(f"end  [{uptime()}]", flush=True)


if __name__ == "__main__":
    main()
