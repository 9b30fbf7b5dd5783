"""A store outage under mixed plain and streaming load: PostgreSQL (a private cluster of the
test's own) stopped with `pg_ctl stop -m immediate` for a few seconds, then started again.

While it is down, new requests are refused with 503 within 1 s and before any upstream call;
requests already at the upstream answer 503 (plain) or end with an error event (streams),
never a cut connection. Once it is back the gateway admits again within 2 s, with no restart,
and every upstream call that was made is in the ledger, once, after its admission.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.openai_support import budget, make_config, virtual_key
from tests.faults.harness import (
    BackgroundLoad,
    LoadPlan,
    MockUpstreamProcess,
    PrivatePostgres,
    ServedGateway,
    read_ledger,
    reconcile,
    run_load,
    wait_drained,
    wait_for,
)

CONFIG = make_config(keys=[virtual_key(budgets=[budget("1000")])])
SURFACES = ("openai", "anthropic", "gemini")
UPSTREAM_LATENCY_MS = 200  # requests are at the upstream when the store goes
DURING = LoadPlan(requests=300, concurrency=8, surfaces=SURFACES, seed=21, deadline_s=25)
AFTER = LoadPlan(requests=30, concurrency=6, surfaces=SURFACES, seed=22, deadline_s=20)
OUTAGE_S = 4.0
# While frozen, refusals are fast and the plan is spent quickly: enough requests that some
# are still sent after the stall is noticed (1 s).
FROZEN = LoadPlan(requests=1500, concurrency=8, surfaces=SURFACES, seed=23, deadline_s=25)


def under_load(
    database_url: str,
    mock_upstream: Callable[..., MockUpstreamProcess],
    served_gateway: Callable[..., ServedGateway],
    plan: LoadPlan = DURING,
    lease_s: float = 5.0,
) -> tuple[MockUpstreamProcess, ServedGateway, BackgroundLoad]:
    """A served gateway on the store, mixed load running, 40 requests served already."""
    upstream = mock_upstream(latency_ms=UPSTREAM_LATENCY_MS)
    env = {
        "GOVLEDGER_SETTLE_TIMEOUT": "1",
        "GOVLEDGER_STALL_AFTER": "1",
        "GOVLEDGER_LEASE": str(lease_s),
    }
    gateway = served_gateway(database_url, CONFIG, upstream.url, env=env)
    gateway.start()
    load = BackgroundLoad(gateway.url, plan).start()
    load.wait_served(40, timeout=30)
    return upstream, gateway, load


@pytest.mark.fault_bound(90)
# A 2 s lease lapses during the 4 s outage: the instance's own allotments of the strict
# budgets stop being usable until its next heartbeat, and the first requests after the store's
# return must not be refused for it (they renew the lease before asking for a grant).
@pytest.mark.parametrize("lease_s", [5.0, 2.0], ids=["lease_5s", "lease_2s_lapses"])
def test_a_store_outage_loses_no_upstream_call_and_recovers_without_a_restart(
    lease_s: float,
    private_postgres: PrivatePostgres,
    private_database: str,
    mock_upstream: Callable[..., MockUpstreamProcess],
    served_gateway: Callable[..., ServedGateway],
    record_property: Callable[[str, Any], None],
) -> None:
    upstream, gateway, load = under_load(
        private_database, mock_upstream, served_gateway, lease_s=lease_s
    )
    down_at = time.monotonic()
    private_postgres.stop_immediate()
    during = load.join()  # refused fast, the rest of the plan runs into the outage
    calls_in_outage = upstream.calls()
    asked = time.monotonic()
    assert gateway.readyz() == 503
    readyz_down_s = time.monotonic() - asked
    assert readyz_down_s < 1.0
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
    assert upstream.calls() == calls_in_outage  # nothing new reached the upstream
    private_postgres.restart()
    back_at = time.monotonic()
    wait_for(lambda: gateway.readyz() == 200, 2.0, "readyz 200 within 2 s of the store's return")
    ready_s = time.monotonic() - back_at
    after = asyncio.run(run_load(gateway.url, AFTER, []))
    first_ok_s = min(
        (r.began + (r.head_s or 0)) - back_at for r in after.records if r.served and r.began
    )
    refusals = [r.body[:300] for r in after.records if not r.served]
    assert len(after.served) == AFTER.requests, (after.statuses(), refusals)

    # While it was down: refusals within 1 s, in the surface's shape; no stream cut.
    began_down = [r for r in during.records if r.began and r.began > down_at + 0.1]
    refused = [r for r in began_down if r.status == 503]
    assert refused, "no request was sent while the store was down"
    assert all(r.head_s is not None and r.head_s < 1.0 for r in refused)
    assert during.count(ending="cut") == 0, [r.error for r in during.records if r.ending == "cut"]
    assert during.count(ending="no_response") == 0
    broken_streams = during.count(stream=True, ending="error_event")

    wait_drained(private_database, timeout=20)
    gateway.stop()
    figures = read_ledger(private_database)
    check = reconcile(during.records + after.records, figures)
    assert check.missing == [] and check.wrong_cost == [] and check.without_id == []
    assert check.double_charged == set() and check.closed_without_admission == set()
    assert check.open == set()
    upstream_calls = upstream.calls()
    assert figures.upstream_attempts == upstream_calls  # 0 lost
    assert figures.settled_before_admitted == []  # each admission committed ahead

    log = gateway.log(start=1)
    assert "Traceback" not in log + gateway.log(start=1, stream="out")
    outage_lines = [line for line in log.splitlines() if "WARNING govledger.writer" in line]
    assert len(outage_lines) == 2, outage_lines
    assert "unavailable" in outage_lines[0] and "answers again" in outage_lines[1]

    measured = {
        "upstream_calls": upstream_calls,
        "served": check.served,
        "refused_while_down": len(refused),
        "slowest_refusal_ms": round(max(r.head_s or 0 for r in refused) * 1000, 1),
        "streams_ended_with_error_event": broken_streams,
        "lost": upstream_calls - figures.upstream_attempts,
        "readyz_while_down_ms": round(readyz_down_s * 1000, 1),
        "readyz_after_return_s": round(ready_s, 2),
        "first_200_after_return_s": round(first_ok_s, 2),
    }
    for name, value in measured.items():
        record_property(name, value)
    print(f"store outage on PostgreSQL: {measured}")


@pytest.mark.fault_bound(90)
def test_a_frozen_store_refuses_fast_and_loses_nothing_once_it_thaws(
    private_postgres: PrivatePostgres,
    private_database: str,
    mock_upstream: Callable[..., MockUpstreamProcess],
    served_gateway: Callable[..., ServedGateway],
    record_property: Callable[[str, Any], None],
) -> None:
    """A stall on PostgreSQL: the server's processes stopped (SIGSTOP), connections hang."""
    upstream, gateway, load = under_load(
        private_database, mock_upstream, served_gateway, plan=FROZEN
    )
    frozen_at = time.monotonic()
    private_postgres.freeze()
    try:
        during = load.join()
        time.sleep(max(0.0, 3.0 - (time.monotonic() - frozen_at)))
    finally:
        private_postgres.thaw()
    thawed_at = time.monotonic()
    wait_for(lambda: gateway.readyz() == 200, 2.0, "readyz 200 within 2 s of the thaw")
    ready_s = time.monotonic() - thawed_at
    after = asyncio.run(run_load(gateway.url, AFTER, []))
    assert len(after.served) == AFTER.requests, after.statuses()

    began_frozen = [r for r in during.records if r.began and r.began > frozen_at + 1.5]
    refused = [r for r in began_frozen if r.status == 503]
    assert refused and all(r.head_s is not None and r.head_s < 1.0 for r in refused)
    assert during.count(ending="cut") == 0 and during.count(ending="no_response") == 0

    wait_drained(private_database, timeout=20)
    gateway.stop()
    figures = read_ledger(private_database)
    check = reconcile(during.records + after.records, figures)
    assert check.clean, check
    assert figures.upstream_attempts == upstream.calls()
    assert "Traceback" not in gateway.log(start=1) + gateway.log(start=1, stream="out")
    measured = {
        "refused_while_frozen": len(refused),
        "slowest_refusal_ms": round(max(r.head_s or 0 for r in refused) * 1000, 1),
        "readyz_after_thaw_s": round(ready_s, 2),
    }
    for name, value in measured.items():
        record_property(name, value)
    print(f"frozen PostgreSQL: {measured}")
