"""Fixtures of the integration tests: an opened store on each backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from govledger.ledger.store import Store


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An empty store on each backend (SQLite always, PostgreSQL when configured)."""
    opened = Store(store_url)
    yield opened
    opened.close()
