"""A PostgreSQL cluster of the test's own, so a fault case can take its store down.

`initdb` in a temporary directory, trust authentication, one free port kept across restarts,
fsync on. Run as the `postgres` OS user when the tests run as root (PostgreSQL refuses root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

from tests.conftest import free_port

OS_USER = "postgres"
# trust: no passwords in URLs; --no-sync: initdb's own files (the server itself runs fsync=on)
INITDB_OPTIONS = ("-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--no-instructions")


def postgres_bin() -> Path | None:
    """The directory of the newest installed PostgreSQL binaries (initdb, pg_ctl), if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_major)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _major(path: str) -> int:
    part = Path(path).parent.parent.name
    return int(part) if part.isdigit() else 0


def unavailable() -> str | None:
    """Why a private cluster cannot run here (None when it can)."""
    if postgres_bin() is None:
        return "no PostgreSQL binaries (initdb) installed"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam(OS_USER)
        except KeyError:
            return f"running as root and there is no {OS_USER!r} OS user"
    return None


class PrivatePostgres:
    """One PostgreSQL cluster: `start()`, `stop_immediate()`, `restart()`, `freeze()`, `url`.

    `url` names the `postgres` database; `create_database()` gives a fresh one. The port
    is chosen once, so URLs stay valid across `stop_immediate()` and `restart()`.
    """

    def __init__(self, max_connections: int = 100) -> None:
        reason = unavailable()
        if reason:
            raise RuntimeError(reason)
        self.bin = postgres_bin() or Path()
        self.max_connections = max_connections
        self.root = Path(tempfile.mkdtemp(prefix="gl-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.root, OS_USER, OS_USER)
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.initdb_s: float | None = None
        self.start_s: list[float] = []  # seconds each start took (crash recovery included)
        self._databases = 0

    # ------------------------------------------------------------ life cycle

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", OS_USER, "--", *command]
        done = subprocess.run(  # noqa: S603 - our own fixed command line
            command, cwd=self.root, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr.strip()}")

    def start(self, timeout: float = 30) -> float:
        """initdb (the first time) and start the server on its port; returns seconds taken."""
        if not self.data.exists():
            began = time.monotonic()
            self._run("initdb", "-D", str(self.data), *INITDB_OPTIONS)
            self.initdb_s = time.monotonic() - began
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
            f" -c max_connections={self.max_connections} -c fsync=on"
        )
        began = time.monotonic()
        wait = ("-w", "-t", str(int(timeout)))
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), *wait, "-o", options, "start"
        )
        self.start_s.append(time.monotonic() - began)
        return self.start_s[-1]

    def stop_immediate(self) -> None:
        """Take the store down at once: `pg_ctl stop -m immediate` (no checkpoint, clients cut)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        """A fast shutdown (clients cut, a checkpoint written)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def restart(self, timeout: float = 30) -> float:
        """Start again on the same port after a stop (crash recovery runs if it was immediate)."""
        return self.start(timeout)

    @property
    def running(self) -> bool:
        """True while the postmaster answers connections."""
        try:
            psycopg.connect(self.url, connect_timeout=2).close()
        except psycopg.Error:
            return False
        return True

    # ------------------------------------------------------------ stalls

    def _pids(self) -> list[int]:
        """The postmaster and its children (backends, checkpointer, walwriter...)."""
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return []
        postmaster = int(pid_file.read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                children.append(int(stat.parent.name))
        return [postmaster, *children]

    def freeze(self) -> None:
        """Stall the store: SIGSTOP the postmaster and its children (connections hang, none
        is refused). `thaw()` resumes them."""
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """Resume a frozen store."""
        self._signal(signal.SIGCONT)

    def _signal(self, signum: int) -> None:
        for pid in self._pids():
            with contextlib.suppress(ProcessLookupError):  # a backend that just ended
                os.kill(pid, signum)

    # ------------------------------------------------------------ databases

    @property
    def url(self) -> str:
        """The URL of the cluster's `postgres` database."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        """The URL of one database of this cluster."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def create_database(self) -> str:
        """A fresh, empty database on this cluster; returns its URL."""
        self._databases += 1
        name = f"faults_{self._databases}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.database_url(name)

    def close(self) -> None:
        """Stop the server (if it runs, thawed first) and remove its directory."""
        if (self.data / "postmaster.pid").exists():
            try:
                self.thaw()
                self.stop_immediate()
            except (RuntimeError, OSError, subprocess.TimeoutExpired):
                self._signal(signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)
