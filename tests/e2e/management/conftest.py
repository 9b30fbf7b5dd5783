"""Fixtures of the management-plane tests: one gateway per module, an Admin client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import RunningGateway
from tests.e2e.management.support import CONFIG, Api, served


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    """One gateway per test module and store (tests use ids of their own)."""
    for running, _ in served(request, tmp_path_factory, CONFIG, "management"):
        yield running


@pytest.fixture
def api(gateway: RunningGateway) -> Api:
    """A client with the Admin token."""
    return Api(gateway.url)
