"""Fixtures of the UI tests: the management tests' gateway (one per module and store, a known
Admin token) and `api` client, and one Chromium per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import RunningGateway
from tests.e2e.management.conftest import api, gateway
from tests.ui.browser import Browser

__all__ = ["api", "browser", "chromium", "gateway"]


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
    chromium.open("/healthz")  # off the app, so no page of the last test calls the API
    chromium.driver.delete_all_cookies()
    chromium.console_problems()  # start each test with an empty console
    yield chromium
