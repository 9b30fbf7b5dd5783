"""The allotter after a store restart or during a stall: the first grant once the store answers
is fast, and a frozen store holds a grant or a heartbeat no longer than the statement bound.

The server's pool held dead connections after the restart, the recorder retried each call ten
times 0.2 s apart and the pool reconnected with a backoff grown during the outage: the first
grants after the store's return waited out the 2 s allotment wait (503 ledger_unavailable).
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest

from govledger.ledger.store import Store
from govledger.projections.usage_state import UsageState
from govledger.proxy.server.allotments import Allotter
from govledger.proxy.server.members import Membership
from tests.faults.harness import PrivatePostgres

KEY = ("team", "2026-12")
OUTAGE_S = 3.0
FIRST_GRANT_S = 1.0  # well under the 2 s a request waits for an allotment


class _Clock:
    def now(self) -> datetime:
        return datetime(2026, 12, 2, 12, 0, tzinfo=UTC)

    def monotonic(self) -> float:
        return time.monotonic()


def _grant(allotter: Allotter) -> Future[Decimal]:
    one = Decimal(1)
    return allotter._thread.submit(
        allotter._grant_on_store, KEY, Decimal(100), one, one, Decimal(0), 1
    )


@pytest.mark.fault_bound(60)
def test_the_first_grant_after_a_store_restart_takes_well_under_the_allotment_wait(
    private_postgres: PrivatePostgres, private_database: str
) -> None:
    store = Store(private_database)
    membership = Membership(private_database, "a/1", "a", 5.0)
    allotter = Allotter(store, UsageState(), membership, "a/1", _Clock(), 5.0)
    try:
        assert _grant(allotter).result(timeout=10) > 0  # connections open and used
        membership.beat()
        private_postgres.stop_immediate()
        during = _grant(allotter)  # on the allotter's one thread, into the outage
        time.sleep(OUTAGE_S)
        private_postgres.restart()
        back_at = time.monotonic()
        after = _grant(allotter)  # queued behind whatever the outage left on the thread
        assert after.result(timeout=10) > 0
        first_grant_s = time.monotonic() - back_at
        print(f"allotter after a store restart: first grant {first_grant_s:.3f} s")
        assert first_grant_s < FIRST_GRANT_S, f"first grant {first_grant_s:.2f} s after return"
        assert during.exception() is not None  # refused in the outage, not held through it
        started = time.monotonic()
        membership.beat()  # its connection died with the store: one fresh one, no error
        assert time.monotonic() - started < FIRST_GRANT_S
    finally:
        getattr(allotter, "books", membership).close()
        allotter._thread.shutdown(wait=False, cancel_futures=True)
        membership.close()
        store.close()


BOUND_S = 0.5  # the books' and the heartbeat's statement bound in this test


@pytest.mark.fault_bound(60)
def test_a_grant_asked_while_the_store_is_frozen_returns_within_the_bound(
    private_postgres: PrivatePostgres, private_database: str
) -> None:
    store = Store(private_database)
    membership = Membership(private_database, "a/1", "a", 5.0, timeout_s=BOUND_S)
    allotter = Allotter(store, UsageState(), membership, "a/1", _Clock(), 5.0, timeout_s=BOUND_S)
    try:
        assert _grant(allotter).result(timeout=10) > 0  # the books' connection is open
        membership.beat()
        private_postgres.freeze()
        try:
            asked = time.monotonic()
            during = _grant(allotter)
            assert during.exception(timeout=10) is not None  # refused, not held
            grant_s = time.monotonic() - asked
            asked = time.monotonic()
            with pytest.raises(psycopg.Error):
                membership.beat()
            beat_s = time.monotonic() - asked
        finally:
            private_postgres.thaw()
        thawed = time.monotonic()
        assert _grant(allotter).result(timeout=10) > 0
        again_s = time.monotonic() - thawed
        membership.beat()
        print(
            f"frozen store: grant {grant_s:.3f} s, beat {beat_s:.3f} s, after thaw {again_s:.3f} s"
        )
        assert grant_s < BOUND_S + 0.3 and beat_s < BOUND_S + 0.3
        assert again_s < 1.0
    finally:
        private_postgres.thaw()
        allotter.books.close()
        allotter._thread.shutdown(wait=False, cancel_futures=True)
        membership.close()
        store.close()
