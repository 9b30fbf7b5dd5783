"""Fixtures of the UI tests: one gateway per module and store, one Chromium per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import (
    POSTGRES_URL,
    RunningGateway,
    create_database,
    drop_database,
    start_gateway,
)
from tests.e2e.management.support import ADMIN, CONFIG, Api
from tests.ui.browser import Browser


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    """A gateway with a known Admin token on each store (PostgreSQL only when configured)."""
    tmp: Path = tmp_path_factory.mktemp("ui")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp}/ledger.sqlite"
    elif POSTGRES_URL:
        url = create_database()
    else:
        pytest.skip("GOVLEDGER_TEST_POSTGRES_URL is not set")
    running = start_gateway(url, CONFIG, tmp, admin_token=ADMIN)
    yield running
    running.stop()
    if url.startswith("postgresql"):
        drop_database(url)


@pytest.fixture
def api(gateway: RunningGateway) -> Api:
    """The management API as the bootstrap Admin."""
    return Api(gateway.url)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """One headless Chromium for the whole module (skips when it is not installed)."""
    browser = Browser()
    yield browser
    browser.close()


@pytest.fixture
def browser(chromium: Browser, gateway: RunningGateway) -> Iterator[Browser]:
    """The module's Chromium pointed at this gateway, signed out at the start."""
    chromium.url = gateway.url
    chromium.open("/ui/")
    chromium.driver.delete_all_cookies()
    chromium.console_problems()  # start each test with an empty console
    yield chromium
