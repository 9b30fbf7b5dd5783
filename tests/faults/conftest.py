"""Fixtures of the fault suite: real processes (gateway, fake upstream, private PostgreSQL),
each owned by one test or module and torn down after it, and a time bound per test body.

`@pytest.mark.fault_bound(seconds)` sets a test's bound (default `DEFAULT_BOUND_S`); the body
is interrupted by `DeadlineExceededError` when it runs over, and the fixtures then kill
whatever processes it left.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import (
    MockUpstreamProcess,
    PrivatePostgres,
    ServedGateway,
    alarm,
    unavailable,
)

DEFAULT_BOUND_S = 90.0


def pytest_configure(config: pytest.Config) -> None:
    """Register the time-bound marker."""
    config.addinivalue_line(
        "markers", "fault_bound(seconds): the most a fault case's body may take"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Run each fault case's body under an alarm."""
    marker = item.get_closest_marker("fault_bound")
    seconds = float(marker.args[0]) if marker else DEFAULT_BOUND_S
    with alarm(seconds, item.nodeid):
        yield


@pytest.fixture
def mock_upstream(tmp_path: Path) -> Iterator[Callable[..., MockUpstreamProcess]]:
    """Start `govledger mock-upstream` processes (`latency_ms`, `fail_rate`); killed after."""
    started: list[MockUpstreamProcess] = []

    def make(latency_ms: float = 0, fail_rate: float = 0.0) -> MockUpstreamProcess:
        upstream = MockUpstreamProcess(tmp_path, latency_ms, fail_rate)
        started.append(upstream)
        upstream.start()
        return upstream

    yield make
    for upstream in started:
        upstream.close()


@pytest.fixture
def served_gateway(tmp_path: Path) -> Iterator[Callable[..., ServedGateway]]:
    """Make (not start) `govledger serve` processes: `make(database_url, config, upstream_url,
    **kw)`; every one still running is killed (process group) after the test."""
    made: list[ServedGateway] = []

    def make(
        database_url: str, config: dict[str, Any], upstream_url: str, **kw: Any
    ) -> ServedGateway:
        workdir = tmp_path / f"gateway{len(made) + 1}"
        workdir.mkdir()
        gateway = ServedGateway(workdir, database_url, config, upstream_url, **kw)
        made.append(gateway)
        return gateway

    yield make
    for gateway in made:
        gateway.close()


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of this module's own (initdb takes seconds: one per module)."""
    reason = unavailable()
    if reason:
        pytest.skip(f"no private PostgreSQL: {reason}")
    cluster = PrivatePostgres()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def private_database(private_postgres: PrivatePostgres) -> Iterator[str]:
    """A fresh database on the module's private cluster; the cluster is running again after
    the test even if the test took it down or froze it."""
    yield private_postgres.create_database()
    private_postgres.thaw()
    if not private_postgres.running:
        private_postgres.restart()
