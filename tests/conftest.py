"""Shared fixtures: store URLs for both backends, and a running gateway with a fake upstream."""

from __future__ import annotations

import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import uvicorn
from psycopg import sql

from govledger.ledger.config import parse_config

POSTGRES_URL = os.environ.get("GOVLEDGER_TEST_POSTGRES_URL")
# One prefix per test run: every database this suite creates is named after it, so parallel
# runs (or a run beside a real deployment on the same server) never touch each other.
RUN_PREFIX = f"gl_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
_created: list[str] = []


def pytest_report_header() -> str:
    """Say whether the PostgreSQL half of the suite runs."""
    if POSTGRES_URL:
        return f"PostgreSQL tests: on ({POSTGRES_URL.split('@')[-1]}, databases {RUN_PREFIX}_*)"
    return "PostgreSQL tests: SKIPPED (set GOVLEDGER_TEST_POSTGRES_URL to run them)"


def _server_url(url: str, database: str) -> str:
    """The URL of another database on the same server as `url`."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


def create_database() -> str:
    """A new, empty PostgreSQL database owned by this run; returns its URL.

    Created on the server `GOVLEDGER_TEST_POSTGRES_URL` names, through its `postgres`
    maintenance database; the named database itself is never touched.
    """
    assert POSTGRES_URL
    name = f"{RUN_PREFIX}_{len(_created)}"
    with psycopg.connect(_server_url(POSTGRES_URL, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    _created.append(name)
    return _server_url(POSTGRES_URL, name)


_gateways: dict[str, list[RunningGateway]] = {}  # by database URL, to stop before a drop


def drop_database(url: str) -> None:
    """Drop a database this run created: the gateways on it are stopped first, then any
    connection still open is ended as it drops."""
    for gateway in _gateways.pop(url, []):
        gateway.stop()
    name = urlsplit(url).path.lstrip("/")
    assert name.startswith(RUN_PREFIX), f"refusing to drop {name!r}: not created by this run"
    assert POSTGRES_URL
    with psycopg.connect(_server_url(POSTGRES_URL, "postgres"), autocommit=True) as conn:
        # FORCE ends the sessions still open (a stopped gateway's last pool) as it drops.
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
    if name in _created:
        _created.remove(name)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drop any database of this run that a fixture could not drop itself."""
    for name in list(_created):
        drop_database(_server_url(POSTGRES_URL or "", name))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database of this test's own, dropped after it."""
    if not POSTGRES_URL:
        pytest.skip("GOVLEDGER_TEST_POSTGRES_URL is not set")
    url = create_database()
    yield url
    drop_database(url)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store URL on each backend (PostgreSQL only if configured)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/ledger.sqlite"
        return
    if not POSTGRES_URL:
        pytest.skip("GOVLEDGER_TEST_POSTGRES_URL is not set")
    url = create_database()
    yield url
    drop_database(url)


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
    clock: Any = None,
    rng: random.Random | None = None,
    **overrides: Any,
) -> RunningGateway:
    """Start a gateway on a free port with the built-in fake upstream on another.

    Extra keyword arguments override fields of `Settings` (e.g. `max_body_bytes`); `clock`
    is the process clock (tests/clocks.py), `rng` the routing's random source.
    """
    from govledger.proxy.server.app import create_app
    from govledger.proxy.server.settings import Settings
    from govledger.proxy.server.slow_clients import timed_protocol

    mock_port = mock_port or free_port()
    text = _with_mock_port(config, mock_port)
    settings = Settings(
        database_url=database_url,
        mock_upstream_port=mock_port,
        **{
            "upstream_timeout_s": 10,
            "instance": "test",
            "secret_key_file": tmp_path / "secret.key",
            **overrides,
        },
    )
    app = create_app(settings, parse_config(text), clock=clock, rng=rng)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            http=timed_protocol(settings.header_read_timeout_s, settings.body_read_timeout_s),
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the gateway did not start")
        time.sleep(0.02)
    running = RunningGateway(
        f"http://127.0.0.1:{port}", f"http://127.0.0.1:{mock_port}", server, thread, app
    )
    _gateways.setdefault(database_url, []).append(running)
    return running


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
