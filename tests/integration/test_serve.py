"""`govledger serve` and `mock-upstream` as a user runs them: the version, the startup line,
JSON logs, and a busy port as one line and exit 1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from govledger import __version__
from govledger.proxy.cli.main import app
from tests.conftest import free_port

GOVLEDGER = str(Path(sys.executable).with_name("govledger"))


@pytest.fixture
def busy() -> Iterator[int]:
    """A port something else is listening on."""
    holder = socket.create_server(("127.0.0.1", 0))
    yield holder.getsockname()[1]
    holder.close()


def invoke(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """Run the command in-process; (exit code, stdout, stderr)."""
    env = {
        "GOVLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.sqlite",
        "GOVLEDGER_SECRET_KEY_FILE": str(tmp_path / "secret.key"),
    }
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_version_prints_the_package_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert (result.exit_code, result.stdout) == (0, f"govledger {__version__}\n")


def test_serve_on_a_busy_port_is_one_line_and_exit_1(tmp_path: Path, busy: int) -> None:
    code, out, err = invoke(tmp_path, "serve", "--port", str(busy))
    assert (code, out, err) == (1, "", f"error: port {busy} on 127.0.0.1 is already in use\n")


def test_a_busy_fake_upstream_port_is_one_line_and_exit_1(tmp_path: Path, busy: int) -> None:
    args = ("serve", "--port", str(free_port()), "--mock-upstream", str(busy))
    code, _, err = invoke(tmp_path, *args)
    assert (code, err) == (1, f"error: port {busy} on 127.0.0.1 is already in use\n")


def test_mock_upstream_on_a_busy_port_is_one_line_and_exit_1(tmp_path: Path, busy: int) -> None:
    code, _, err = invoke(tmp_path, "mock-upstream", "--port", str(busy))
    assert (code, err) == (1, f"error: port {busy} on 127.0.0.1 is already in use\n")


def test_a_bad_log_level_is_refused(tmp_path: Path) -> None:
    code, _, err = invoke(tmp_path, "serve", "--log-level", "loud")
    assert (code, err) == (
        1,
        "error: --log-level: one of debug, info, warning, error, not 'loud'\n",
    )


def test_serve_says_where_it_listens_which_store_and_how_many_keys_in_json(
    tmp_path: Path,
) -> None:
    port, mock = free_port(), free_port()
    config = json.loads(Path("config.example.json").read_text())
    config["providers"][0]["base_url"] = f"http://127.0.0.1:{mock}/v1"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    store = f"sqlite:///{tmp_path}/ledger.sqlite"
    env = {
        **os.environ,
        "GOVLEDGER_DATABASE_URL": store,
        "GOVLEDGER_SECRET_KEY_FILE": str(tmp_path / "secret.key"),
        "GOVLEDGER_LOG_FORMAT": "json",
    }
    args = [GOVLEDGER, "serve", "--config", str(path), "--port", str(port)]
    server = subprocess.Popen(  # noqa: S603
        [*args, "--mock-upstream", str(mock)], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        assert server.stderr is not None
        seen: list[dict[str, Any]] = []  # every log line is a JSON object; uvicorn's own come first
        while not seen or seen[-1]["logger"] != "govledger":
            text = server.stderr.readline()
            assert text, f"the server stopped: {seen}"
            if not text.startswith("govledger: first admin token"):  # shown once, not a log
                seen.append(json.loads(text))
        line = seen[-1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:  # noqa: S310
            assert answer.status == 200
    finally:
        server.terminate()
        _, rest = server.communicate(timeout=30)
    assert (line["level"], line["logger"]) == ("info", "govledger")
    assert line["message"] == (
        f"govledger {__version__} listening on http://127.0.0.1:{port} "
        f"(web UI: http://127.0.0.1:{port}/ui/); store {store}; "
        f"1 virtual key(s), 1 active; fake upstream on http://127.0.0.1:{mock}"
    )
    assert "Application shutdown complete." in rest  # SIGTERM stops it gracefully
    assert "Traceback" not in rest
