"""Shared fixtures: store URLs for both backends, and a running gateway with a fake upstream."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import uvicorn

from ledger.config import parse_config

POSTGRES_URL = os.environ.get("GOVLEDGER_TEST_POSTGRES_URL")
PG_TABLES = (
    "governance_events",
    "usage_events",
    "gl_tracking",
    "gl_budget_usage",
    "gl_rate_state",
    "gl_requests",
    "gl_audit",
    "gl_metrics",
    "gl_metric_open",
    "gl_audit_chain",
    "gl_alert_budget",
    "gl_alert_last",
)


def pytest_report_header() -> str:
    """Say whether the PostgreSQL half of the suite runs."""
    if POSTGRES_URL:
        return f"PostgreSQL tests: on ({POSTGRES_URL.split('@')[-1]})"
    return "PostgreSQL tests: SKIPPED (set GOVLEDGER_TEST_POSTGRES_URL to run them)"


def reset_postgres(url: str) -> None:
    """Drop every govledger table so a test starts from an empty ledger."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {', '.join(PG_TABLES)} CASCADE")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store URL on each backend (PostgreSQL only if configured)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.sqlite"
    if not POSTGRES_URL:
        pytest.skip("GOVLEDGER_TEST_POSTGRES_URL is not set")
    reset_postgres(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite store URL."""
    return f"sqlite:///{tmp_path}/ledger.sqlite"


@dataclass
class RunningGateway:
    """A gateway served by uvicorn in a thread, with its fake upstream."""

    url: str
    upstream_url: str
    server: uvicorn.Server
    thread: threading.Thread
    app: Any

    @property
    def runtime(self) -> Any:
        """The gateway's runtime (store, state, writer)."""
        return self.app.state.runtime

    def stop(self) -> None:
        """Shut the server down and wait for its lifespan to finish."""
        self.server.should_exit = True
        self.thread.join(timeout=30)


def start_gateway(
    database_url: str,
    config: dict[str, Any],
    tmp_path: Path,
    mock_port: int | None = None,
    **overrides: Any,
) -> RunningGateway:
    """Start a gateway on a free port with the built-in fake upstream on another.

    Extra keyword arguments override fields of `Settings` (e.g. `max_body_bytes`).
    """
    from proxy.app import create_app
    from proxy.runtime import Settings

    mock_port = mock_port or free_port()
    text = _with_mock_port(config, mock_port)
    settings = Settings(
        database_url=database_url,
        instance="test",
        secret_key_file=tmp_path / "secret.key",
        mock_upstream_port=mock_port,
        **{"upstream_timeout_s": 10, **overrides},
    )
    app = create_app(settings, parse_config(text))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the gateway did not start")
        time.sleep(0.02)
    return RunningGateway(
        f"http://127.0.0.1:{port}", f"http://127.0.0.1:{mock_port}", server, thread, app
    )


def _with_mock_port(config: dict[str, Any], port: int) -> dict[str, Any]:
    import json

    replaced: dict[str, Any] = json.loads(
        json.dumps(config).replace("{MOCK}", f"http://127.0.0.1:{port}")
    )
    return replaced


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[Callable[..., RunningGateway]]:
    """Start gateways (`{MOCK}` in a config is the fake upstream URL); stops them after."""
    started: list[RunningGateway] = []

    def make(config: dict[str, Any], database_url: str | None = None, **kw: Any) -> RunningGateway:
        url = database_url or f"sqlite:///{tmp_path}/ledger.sqlite"
        gateway = start_gateway(url, config, tmp_path, **kw)
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        gateway.stop()


def mock_stats(gateway: RunningGateway) -> dict[str, Any]:
    """The fake upstream's counters."""
    import json
    import urllib.request

    with urllib.request.urlopen(gateway.upstream_url + "/__mock/stats") as response:  # noqa: S310
        return json.loads(response.read())  # type: ignore[no-any-return]
