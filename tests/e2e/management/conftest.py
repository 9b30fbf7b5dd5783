"""Fixtures of the management-plane tests: one gateway per module, an Admin client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    """One gateway per test module and store (tests use ids of their own), with a known
    Admin token; PostgreSQL only when GOVLEDGER_TEST_POSTGRES_URL is set."""
    tmp: Path = tmp_path_factory.mktemp("management")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp}/ledger.sqlite"
    elif POSTGRES_URL:
        url = create_database()
    else:
        pytest.skip("GOVLEDGER_TEST_POSTGRES_URL is not set")
    running = start_gateway(url, CONFIG, tmp, admin_token=ADMIN, clock=ShiftedClock())
    yield running
    running.stop()
    if url.startswith("postgresql"):
        drop_database(url)


@pytest.fixture
def api(gateway: RunningGateway) -> Api:
    """A client with the Admin token."""
    return Api(gateway.url)
