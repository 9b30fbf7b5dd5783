"""`govledger serve --workers N`: a supervisor of N equal instances on one port.

Each worker is a whole `govledger serve` process of its own (its own GOVLEDGER_INSTANCE,
`NAME-w1` ... `NAME-wN`, its own commit and projection processes) bound to the same port
with SO_REUSEPORT, so the kernel spreads connections over them. They share the store and,
on PostgreSQL, its budgets through leased allotments. SIGTERM or SIGINT to the supervisor
stops every worker cleanly (each returns its unused allotments); a worker that dies is
started again after a pause, under the same instance name (it closes its own orphans).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

RESTART_PAUSE_S = 1.0  # before a worker that died is started again
STOP_WAIT_S = 20.0  # for the workers to stop after SIGTERM, before SIGKILL


def worker_instances(instance: str, count: int) -> list[str]:
    """The GOVLEDGER_INSTANCE of each worker."""
    return [f"{instance}-w{n}" for n in range(1, count + 1)]


def worker_refusal(workers: int, database_url: str, mock_upstream: int | None) -> str | None:
    """Why `--workers` cannot run with these settings (None: it can)."""
    if workers < 1:
        return "--workers: at least 1"
    if workers == 1:
        return None
    if database_url.split(":", 1)[0] not in ("postgres", "postgresql"):
        return (
            "--workers needs a PostgreSQL store: on SQLite each file has one writer and "
            "budgets are strict only within one process (run one instance, or set "
            "GOVLEDGER_DATABASE_URL=postgresql://...)"
        )
    if mock_upstream is not None:
        return "--workers and --mock-upstream together: run `govledger mock-upstream` apart"
    return None


READY_WAIT_S = 60.0  # for the first worker to apply the config and answer /readyz


def _ready(argv: Sequence[str], worker: Worker) -> bool:
    """Wait for the first worker's /readyz (False if it exited or never answered)."""
    host, port = argv[argv.index("--host") + 1], argv[argv.index("--port") + 1]
    url = f"http://{host}:{port}/readyz"
    deadline = time.monotonic() + READY_WAIT_S
    while time.monotonic() < deadline:
        if worker.process is None or worker.process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    return False


@dataclass
class Worker:
    """One worker process and its instance name."""

    instance: str
    process: subprocess.Popen[bytes] | None = None

    def start(self, argv: Sequence[str]) -> None:
        """Start (or start again) the worker's `govledger serve`."""
        # Equal instances share strict budgets through leased allotments unless told otherwise.
        env = {"GOVLEDGER_ALLOTMENTS": "on", **os.environ, "GOVLEDGER_INSTANCE": self.instance}
        self.process = subprocess.Popen([sys.executable, "-m", "govledger", *argv], env=env)


def supervise(argv: Sequence[str], instances: Sequence[str], config: Path | None = None) -> int:
    """Run one worker per instance name until SIGTERM/SIGINT; returns the exit status.

    The first worker applies `config` and is ready before the others start (one apply, no
    version clash between workers applying the same file)."""
    workers = [Worker(name) for name in instances]
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    first, *rest = workers
    with_config = [*argv, "--config", str(config)] if config is not None else list(argv)
    first.start(with_config)
    if not _ready(argv, first):
        return 1
    for worker in rest:
        worker.start(argv)
    while not stopping:
        time.sleep(0.2)
        for worker in workers:
            if worker.process is not None and worker.process.poll() is not None and not stopping:
                code = worker.process.returncode
                print(
                    f"worker {worker.instance} exited ({code}); starting it again",
                    file=sys.stderr,
                )
                time.sleep(RESTART_PAUSE_S)
                worker.start(argv)
    for worker in workers:
        if worker.process is not None and worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT_S
    for worker in workers:
        if worker.process is None:
            continue
        try:
            worker.process.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()
    return 0
