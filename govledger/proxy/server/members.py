"""Membership: each instance's heartbeat as a row in the store (`gl_members`), read by all.

No leader and no configuration: an instance that was seen within the lease time is alive
(`allotment.alive`). The times are the database's own, so the instances' clocks never meet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from govledger.proxy.enforcement.allotment import alive
from govledger.proxy.server.statement_bound import StatementBound

SCHEMA = """
CREATE TABLE IF NOT EXISTS gl_members (
    holder text PRIMARY KEY,
    instance text NOT NULL,
    started_at timestamptz NOT NULL,
    seen_at timestamptz NOT NULL,
    stopped boolean NOT NULL DEFAULT false
)
"""


@dataclass(frozen=True)
class Member:
    """One instance incarnation as its heartbeats show it."""

    holder: str  # instance/incarnation
    instance: str
    started_at: datetime
    seen_at: datetime
    stopped: bool
    alive: bool


class Membership:
    """This process's heartbeat and its view of the others, over one connection of its own;
    each call bounded by `timeout_s` (`StatementBound`), a frozen store's included."""

    def __init__(
        self, url: str, holder: str, instance: str, lease_s: float, timeout_s: float = 1.0
    ) -> None:
        self.url = url
        self.holder = holder
        self.instance = instance
        self.lease_s = lease_s
        self.bound = StatementBound(timeout_s)
        self._conn: Any = None

    def _cursor(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self.url, autocommit=True, connect_timeout=1, options=self.bound.options
            )
            self.bound.watch(self._conn)
            self._conn.execute(SCHEMA)
        return self._conn.cursor()

    def beat(self) -> None:
        """Record that this process is alive now; a connection opened before that fails
        (dead after a store restart) is dropped and the beat tried once on a fresh one,
        unless the store did not answer in time."""
        for attempt in range(2):
            stale = self._conn is not None
            try:
                with self.bound.call(), self._cursor() as cur:
                    cur.execute(
                        "INSERT INTO gl_members (holder, instance, started_at, seen_at) "
                        "VALUES (%s, %s, now(), now()) ON CONFLICT (holder) DO UPDATE "
                        "SET seen_at = now(), stopped = false",
                        (self.holder, self.instance),
                    )
                return
            except psycopg.Error:
                self.close()
                if not stale or attempt or self.bound.cut:
                    raise

    def stopped(self) -> None:
        """Record a clean stop (the others need not wait for the lease time)."""
        with self.bound.call(), self._cursor() as cur:
            cur.execute("UPDATE gl_members SET stopped = true WHERE holder = %s", (self.holder,))

    def members(self) -> list[Member]:
        """Every member seen within a day, alive or not, by the database's clock."""
        with self.bound.call():
            try:
                return read_members(self._cursor(), self.lease_s)
            except psycopg.Error:
                self.close()  # a connection the bound shut is not used again
                raise

    def close(self) -> None:
        """Close the connection (reopened on the next beat)."""
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def read_members(cur: Any, lease_s: float) -> list[Member]:
    """The members of `gl_members` seen within a day, each marked alive or not."""
    cur.execute(
        "SELECT holder, instance, started_at, seen_at, stopped, now() FROM gl_members "
        "WHERE seen_at > now() - interval '1 day' ORDER BY instance, started_at"
    )
    rows = cur.fetchall()
    return [
        Member(h, i, started, seen, stopped, not stopped and alive(seen, now, lease_s))
        for h, i, started, seen, stopped, now in rows
    ]
