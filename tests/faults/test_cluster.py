"""Cluster mode: three `govledger serve` processes on one PostgreSQL share one strict budget
through leased allotments. 300 concurrent requests never overspend it and little of it is
stranded; a kill -9 of one instance mid-load strands at most its lease until it expires."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from govledger.ledger import events as ev
from govledger.ledger.store import Store
from tests.e2e.openai_support import budget, chat_bound, make_config, virtual_key
from tests.faults.harness import (
    BackgroundLoad,
    LoadPlan,
    LoadResult,
    MockUpstreamProcess,
    ServedGateway,
    read_ledger,
    reconcile,
    run_load,
    wait_for,
)

MAX_TOKENS = 16
FITS = 20  # the budget fits this many requests at their largest bound
LEASE_S = 3.0
PLANS = [
    LoadPlan(requests=100, concurrency=100, stream_share=0.5, seed=s, max_tokens=MAX_TOKENS)
    for s in range(3)
]


def largest_bound(plans: list[LoadPlan]) -> Decimal:
    """The largest reservation of any request the plans send (their prompts differ)."""
    return max(
        chat_bound(f"load request {i} of seed {p.seed}", p.max_tokens)
        for p in plans
        for i in range(p.requests)
    )


LIMIT = FITS * largest_bound(PLANS)
CONFIG = make_config(keys=[virtual_key(budgets=[budget(str(LIMIT))])])


def start_cluster(
    make: Callable[..., ServedGateway], url: str, upstream: str, shared: Path, count: int = 3
) -> list[ServedGateway]:
    """`count` instances on one store, each its own GOVLEDGER_INSTANCE, one secret key."""
    env = {"GOVLEDGER_LEASE": str(LEASE_S), "GOVLEDGER_SECRET_KEY_FILE": str(shared / "secret.key")}
    gateways = [make(url, CONFIG, upstream, instance=f"node{n}", env=env) for n in range(count)]
    for gateway in gateways:
        gateway.start()
    return gateways


async def burst(gateways: list[ServedGateway], plans: list[LoadPlan]) -> list[LoadResult]:
    """Each plan against its instance, all at once."""
    pairs = zip(gateways, plans, strict=True)
    return list(await asyncio.gather(*(run_load(g.url, p, []) for g, p in pairs)))


def allotment_events(url: str) -> list[ev.AllotmentEvent]:
    """Every allotment event in the usage log."""
    store = Store(url, create_tables=False)
    try:
        return [e for _, e in store.iterate("usage") if isinstance(e, ev.AllotmentEvent)]
    finally:
        store.close()


@pytest.mark.fault_bound(120)
def test_300_concurrent_requests_on_three_instances_never_overspend_a_strict_budget(
    postgres_url: str,
    mock_upstream: Callable[..., MockUpstreamProcess],
    served_gateway: Callable[..., ServedGateway],
    record_property: Callable[[str, Any], None],
    tmp_path: Path,
) -> None:
    upstream = mock_upstream(latency_ms=50)
    gateways = start_cluster(served_gateway, postgres_url, upstream.url, tmp_path)

    results = asyncio.run(burst(gateways, PLANS))

    records = [r for result in results for r in result.records]
    served = [r for r in records if r.served]
    statuses = sorted({r.status for r in records if not r.served}, key=str)
    figures = read_ledger(postgres_url)
    grants = allotment_events(postgres_url)
    record_property("served", len(served))
    record_property("spent", str(figures.settled_cost))
    record_property("limit", str(LIMIT))
    record_property("allotment_events", len(grants))
    assert figures.settled_cost <= LIMIT  # no overspend, across the three instances
    assert len(served) >= FITS - 2, (len(served), statuses)
    assert statuses == [402], statuses  # every other request: budget_exceeded
    assert reconcile(records, figures).clean
    assert {e.holder.split("/")[0] for e in grants} <= {"node0", "node1", "node2"}
    for gateway in gateways:
        assert gateway.stop() in (0, -signal.SIGTERM)
        assert gateway.tracebacks() == 0
    # A clean stop gives back what was unused: nothing stays held but what was spent.
    after = allotment_events(postgres_url)
    granted = sum((e.amount for e in after if isinstance(e, ev.AllotmentGranted)), Decimal(0))
    back = sum((e.amount for e in after if isinstance(e, ev.AllotmentReturned)), Decimal(0))
    assert granted - back == figures.settled_cost
    assert not [e for e in after if isinstance(e, ev.AllotmentExpired)]


@pytest.mark.fault_bound(150)
def test_a_kill9_strands_at_most_one_lease_until_it_expires(
    postgres_url: str,
    mock_upstream: Callable[..., MockUpstreamProcess],
    served_gateway: Callable[..., ServedGateway],
    record_property: Callable[[str, Any], None],
    tmp_path: Path,
) -> None:
    upstream = mock_upstream(latency_ms=50)
    gateways = start_cluster(served_gateway, postgres_url, upstream.url, tmp_path)
    victim, *others = gateways
    slow = [
        LoadPlan(requests=100, concurrency=4, stream_share=0.5, seed=s, max_tokens=MAX_TOKENS)
        for s in range(3)
    ]
    loads = [BackgroundLoad(g.url, p).start() for g, p in zip(gateways, slow, strict=True)]
    loads[0].wait_served(3, timeout=30)
    victim.kill9()
    killed_at = time.monotonic()

    def expired() -> list[ev.AllotmentExpired] | None:
        found = [e for e in allotment_events(postgres_url) if isinstance(e, ev.AllotmentExpired)]
        return found or None

    expiries = wait_for(expired, 4 * LEASE_S + 10, "the dead instance's lease to expire")
    expired_after = time.monotonic() - killed_at
    results = [load.join(60) for load in loads]
    survivors = [r for result in results[1:] for r in result.records if r.served]
    figures = read_ledger(postgres_url)
    record_property("expired_after_s", round(expired_after, 2))
    record_property("spent", str(figures.settled_cost))
    record_property("served_by_survivors", len(survivors))
    assert {e.holder.split("/")[0] for e in expiries} == {"node0"}
    assert {e.recorded_by.split("/")[0] for e in expiries} <= {"node1", "node2"}
    assert expired_after <= LEASE_S + 2 * LEASE_S  # unseen for a lease, noticed within a beat
    assert figures.settled_cost <= LIMIT
    # The survivors go on after the kill and spend what the dead instance left.
    assert len(survivors) >= FITS // 2
    # Restarted, the instance closes its orphans (charged at their reservation).
    victim.restart()
    assert read_ledger(postgres_url).open == set()
    for gateway in others:
        assert gateway.tracebacks() == 0
