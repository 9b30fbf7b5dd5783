"""`govledger serve` and `govledger mock-upstream` as real processes, each in its own
process group, so a fault case can kill -9 the server or the server and all its children."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, TextIO

from tests.conftest import free_port
from tests.faults.harness.deadline import wait_for

GOVLEDGER = str(Path(sys.executable).parent / "govledger")


def _get(url: str, timeout: float = 2) -> tuple[int, bytes]:
    """GET a URL: (status, body); (0, b"") when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


class _Process:
    """A child started in a new session; its output goes to numbered log files."""

    def __init__(self, workdir: Path, name: str) -> None:
        self.workdir = workdir
        self.name = name
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._files: list[TextIO] = []

    def _spawn(self, command: list[str], env: dict[str, str]) -> None:
        self.starts += 1
        out = (self.workdir / f"{self.name}.{self.starts}.out").open("w")
        err = (self.workdir / f"{self.name}.{self.starts}.err").open("w")
        self._files += [out, err]
        self.process = subprocess.Popen(  # noqa: S603 - our own fixed command line
            command,
            cwd=self.workdir,
            env={**os.environ, **env},
            stdout=out,
            stderr=err,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        """The process id of the current start."""
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    @property
    def alive(self) -> bool:
        """True while the process of the current start runs."""
        return self.process is not None and self.process.poll() is None

    def log(self, start: int | None = None, stream: str = "err") -> str:
        """The captured stderr (or `stream="out"`) of one start (the latest by default)."""
        path = self.workdir / f"{self.name}.{start or self.starts}.{stream}"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        """Everything every start wrote, stdout and stderr."""
        return "".join(
            self.log(n, stream) for n in range(1, self.starts + 1) for stream in ("out", "err")
        )

    def kill9(self) -> None:
        """SIGKILL the process itself (its children, if any, live on)."""
        if self.alive:
            os.kill(self.pid, signal.SIGKILL)
            assert self.process is not None
            self.process.wait(10)

    def kill9_group(self) -> None:
        """SIGKILL the whole process group: the process and every child it started."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(10)

    def group(self) -> list[int]:
        """Live processes of the current start's process group (the children outlive a
        kill -9 of the process itself until they notice)."""
        return group_members(self.pid) if self.process is not None else []

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM, wait up to `timeout`; SIGKILL the group if it is still there."""
        if self.process is None:
            return None
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9_group()
        return self.process.returncode

    def close(self) -> None:
        """Kill whatever is left of the group and close the log files."""
        self.kill9_group()
        for file in self._files:
            file.close()


class MockUpstreamProcess(_Process):
    """`govledger mock-upstream` in its own process: its call counter survives the gateway."""

    def __init__(self, workdir: Path, latency_ms: float = 0, fail_rate: float = 0.0) -> None:
        super().__init__(workdir, "mock")
        self.port = free_port()
        self.latency_ms = latency_ms
        self.fail_rate = fail_rate

    @property
    def url(self) -> str:
        """Its base URL (OpenAI routes under `/v1`)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20) -> None:
        """Start and wait until it answers `/__mock/stats`."""
        command = [GOVLEDGER, "mock-upstream", "--port", str(self.port)]
        command += ["--latency-ms", str(self.latency_ms), "--fail-rate", str(self.fail_rate)]
        self._spawn(command, {})
        wait_for(lambda: self._up(), timeout, "the mock upstream to listen")

    def _up(self) -> bool:
        if not self.alive:
            raise RuntimeError(f"the mock upstream exited: {self.log()[-2000:]}")
        return _get(self.url + "/__mock/stats")[0] == 200

    def stats(self) -> dict[str, Any]:
        """`{"requests", "by_path", "last_headers"}`: the calls it received."""
        status, body = _get(self.url + "/__mock/stats", timeout=5)
        assert status == 200, f"mock stats answered {status}"
        stats: dict[str, Any] = json.loads(body)
        return stats

    def calls(self, path: str = "") -> int:
        """Calls received on one path (all paths when empty)."""
        stats = self.stats()
        return int(stats["by_path"].get(path, 0)) if path else int(stats["requests"])


class ServedGateway(_Process):
    """`govledger serve` on a fixed port and store, restartable after a kill.

    The config dict may say `{MOCK}` for the upstream's base URL. Each start writes
    `gateway.N.out` / `gateway.N.err` in `workdir`.
    """

    def __init__(
        self,
        workdir: Path,
        database_url: str,
        config: dict[str, Any],
        upstream_url: str,
        instance: str = "faults",
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(workdir, "gateway")
        self.database_url = database_url
        self.port = free_port()
        self.instance = instance
        self.env = env or {}
        self.config_path = workdir / "config.json"
        text = json.dumps(config).replace("{MOCK}", upstream_url)
        self.config_path.write_text(text)
        self.ready_s: list[float] = []  # seconds from spawn to ready, per start

    @property
    def url(self) -> str:
        """Its base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> float:
        """Spawn the server and wait for `/readyz`; returns the seconds it took."""
        assert not self.alive, "the gateway is running already"
        env = {
            "GOVLEDGER_DATABASE_URL": self.database_url,
            "GOVLEDGER_INSTANCE": self.instance,
            "GOVLEDGER_SECRET_KEY_FILE": str(self.workdir / "secret.key"),
            "GOVLEDGER_UPSTREAM_TIMEOUT": "10",
            **self.env,
        }
        command = [GOVLEDGER, "serve", "--config", str(self.config_path)]
        command += ["--port", str(self.port)]
        began = time.monotonic()
        self._spawn(command, env)
        self.wait_ready(timeout)
        self.ready_s.append(time.monotonic() - began)
        return self.ready_s[-1]

    def restart(self, timeout: float = 30) -> float:
        """Start again on the same port and store after a kill or stop."""
        if self.alive:
            self.stop()
        return self.start(timeout)

    def readyz(self, timeout: float = 5) -> int:
        """The status `/readyz` answers (0 when nothing answers within `timeout` s)."""
        return _get(self.url + "/readyz", timeout)[0]

    def wait_ready(self, timeout: float = 30) -> None:
        """Wait until `/readyz` answers 200; fail with the log if the server exits first."""

        def ready() -> bool:
            if not self.alive:
                raise RuntimeError(f"the gateway exited at start: {self.log()[-3000:]}")
            return self.readyz() == 200

        wait_for(ready, timeout, "the gateway to be ready")

    def tracebacks(self) -> int:
        """How many tracebacks every start wrote (stdout and stderr)."""
        return self.logs().count("Traceback")

    def warnings(self, start: int | None = None) -> list[str]:
        """The warning lines one start wrote to stderr (the latest by default)."""
        return [line for line in self.log(start).splitlines() if "warning" in line.lower()]
