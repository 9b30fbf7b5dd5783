"""The management plane's access to the running gateway: state, clock, ledger, views."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from govledger.ledger import events as ev
from govledger.ledger.entities import GovernanceState
from govledger.ledger.personal import is_sealed
from govledger.projections.database import ViewDatabase
from govledger.proxy.flow.gateway import Gateway
from govledger.proxy.server.runtime import Runtime


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


@dataclass
class Management:
    """Use cases append through the governance ledger and fold on the event loop's thread."""

    runtime: Runtime
    gateway: Gateway
    clock: Callable[[], datetime] = field(default=utcnow)

    @property
    def state(self) -> GovernanceState:
        """The folded governance state."""
        return self.runtime.state

    async def commit(self, events: Sequence[ev.GovernanceEvent]) -> None:
        """Append atomically (off the loop), then fold here so the state is read-your-writes.

        The versions were taken from the state; if another writer changed one of the
        streams first, ConcurrentChangeError is raised and nothing is appended.
        """
        governance = self.runtime.governance
        await asyncio.to_thread(governance.append, events)
        if governance.fold(events):
            self.runtime.governance_changed()

    async def shown(self, values: Sequence[str | None]) -> list[str | None]:
        """Recorded values as shown: personal ones opened with their keys, or `erased`."""
        if not any(is_sealed(value) for value in values):
            return list(values)
        return await asyncio.to_thread(self.runtime.subjects.shown, values)

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of a read-only query on the views (a connection of its own, off the loop)."""
        return await asyncio.to_thread(_read, self.runtime.settings.database_url, sql, params)


def _read(url: str, sql: str, params: Sequence[Any]) -> list[Any]:
    db = ViewDatabase(url)
    conn = db.connect()  # autocommit: a plain read takes no write lock
    try:
        cursor = conn.cursor()
        cursor.execute(db.sql(sql), list(params))
        return list(cursor.fetchall())
    finally:
        conn.close()
