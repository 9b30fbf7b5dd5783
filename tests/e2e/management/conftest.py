"""Fixtures of the management-plane tests: one gateway per module, an Admin client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clocks import ShiftedClock
from tests.conftest import (
    POSTGRES_URL,
    RunningGateway,
    create_database,
    drop_database,
    start_gateway,
)
from tests.e2e.management.support import ADMIN, CONFIG, Api


def gateway_on(store: str, tmp: Path, config: dict[str, Any]) -> Iterator[RunningGateway]:
    """A gateway on a fresh store (`sqlite` or `postgres`, skipped without PostgreSQL) with
    the known Admin token and a clock the test may move; dropped after."""
    if store == "sqlite":
        url = f"sqlite:///{tmp}/ledger.sqlite"
    elif POSTGRES_URL:
        url = create_database()
    else:
        pytest.skip("GOVLEDGER_TEST_POSTGRES_URL is not set")
    running = start_gateway(url, config, tmp, admin_token=ADMIN, clock=ShiftedClock())
    yield running
    running.stop()
    if url.startswith("postgresql"):
        drop_database(url)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    """One gateway per test module and store (tests use ids of their own), with a known
    Admin token; PostgreSQL only when GOVLEDGER_TEST_POSTGRES_URL is set."""
    yield from gateway_on(request.param, tmp_path_factory.mktemp("management"), CONFIG)


@pytest.fixture
def api(gateway: RunningGateway) -> Api:
    """A client with the Admin token."""
    return Api(gateway.url)
