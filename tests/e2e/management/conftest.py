"""Fixtures of the management-plane tests: one gateway per module, an Admin client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RunningGateway, start_gateway
from tests.e2e.management.support import ADMIN, CONFIG, Api


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """One gateway per test module (tests use ids of their own), with a known Admin token."""
    tmp: Path = tmp_path_factory.mktemp("management")
    running = start_gateway(f"sqlite:///{tmp}/ledger.sqlite", CONFIG, tmp, admin_token=ADMIN)
    yield running
    running.stop()


@pytest.fixture
def api(gateway: RunningGateway) -> Api:
    """A client with the Admin token."""
    return Api(gateway.url)
