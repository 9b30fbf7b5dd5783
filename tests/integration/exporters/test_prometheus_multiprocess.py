"""The live histograms are correct with several worker processes (multiprocess mode)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
from prometheus_client import CollectorRegistry, generate_latest
from govledger.exporters.prometheus import LiveMetrics, live_registry

live = LiveMetrics()
for _ in range(int(sys.argv[1])):
    live.on_commit("usage", [1, 2, 3], 0.002)
if sys.argv[2] == "render":
    registry = CollectorRegistry(auto_describe=False)
    live_registry(registry, live)
    sys.stdout.write(generate_latest(registry).decode())
"""


def run(directory: Path, commits: int, render: bool) -> str:
    """Run one 'worker process' that records commits (and renders, if asked)."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(commits), "render" if render else "-"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    return done.stdout


def test_commits_recorded_by_several_processes_are_merged_in_one_exposition(
    tmp_path: Path,
) -> None:
    run(tmp_path, 3, render=False)
    run(tmp_path, 4, render=False)
    text = run(tmp_path, 5, render=True)
    counts = [
        line
        for line in text.splitlines()
        if line.startswith("govledger_ledger_commit_seconds_count")
    ]
    assert counts == ['govledger_ledger_commit_seconds_count{app="usage"} 12.0']
    sums = [
        line for line in text.splitlines() if line.startswith("govledger_writer_batch_events_sum")
    ]
    assert sums == ['govledger_writer_batch_events_sum{app="usage"} 36.0']
