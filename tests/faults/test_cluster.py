"""Cluster mode: three `govledger serve` processes on one PostgreSQL share one strict budget
through leased allotments. 300 concurrent requests never overspend it and little of it is
stranded; a kill -9 of one instance mid-load strands at most its lease until it expires.

The store is a PostgreSQL cluster of this module's own (`private_database`): three gateways
hold about 20 connections, which a shared server busy with other suites may not have."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from email.message import Message
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from govledger.ledger import events as ev
from govledger.ledger.store import Store
from govledger.proxy.cli.client import Client
from govledger.proxy.cli.records import replace
from govledger.proxy.server.members import Member, read_members
from tests.conftest import free_port
from tests.e2e.openai_support import (
    KEY,
    OTHER_KEY,
    budget,
    make_config,
    virtual_key,
)
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
from tests.faults.harness.served import GOVLEDGER

MAX_TOKENS = 2  # the fake's replies are longer: every request costs exactly its bound
OUTPUT_PRICE = Decimal(10)  # USD per million output tokens; input is free, so bound == cost
COST = MAX_TOKENS * OUTPUT_PRICE / 1_000_000
FITS = 20  # the budget fits this many requests exactly
LIMIT = FITS * COST
LEASE_S = 3.0
PLANS = [
    LoadPlan(requests=100, concurrency=100, stream_share=0.5, seed=s, max_tokens=MAX_TOKENS)
    for s in range(3)
]
PRICES = [{"provider": "openai", "model": "m1", "input_per_mtok": "0", "output_per_mtok": "10"}]
CONFIG = make_config(keys=[virtual_key(budgets=[budget(str(LIMIT))])], pricing_overrides=PRICES)


def start_cluster(
    make: Callable[..., ServedGateway],
    url: str,
    upstream: str,
    shared: Path,
    count: int = 3,
    config: dict[str, Any] = CONFIG,
) -> list[ServedGateway]:
    """`count` instances on one store, each its own GOVLEDGER_INSTANCE, one secret key."""
    env = {
        "GOVLEDGER_ALLOTMENTS": "on",
        "GOVLEDGER_LEASE": str(LEASE_S),
        "GOVLEDGER_SECRET_KEY_FILE": str(shared / "secret.key"),
    }
    gateways = [make(url, config, upstream, instance=f"node{n}", env=env) for n in range(count)]
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
    private_database: str,
    mock_upstream: Callable[..., MockUpstreamProcess],
    served_gateway: Callable[..., ServedGateway],
    record_property: Callable[[str, Any], None],
    tmp_path: Path,
) -> None:
    upstream = mock_upstream(latency_ms=50)
    gateways = start_cluster(served_gateway, private_database, upstream.url, tmp_path)

    results = asyncio.run(burst(gateways, PLANS))

    records = [r for result in results for r in result.records]
    served = [r for r in records if r.served]
    statuses = sorted({r.status for r in records if not r.served}, key=str)
    figures = read_ledger(private_database)
    grants = allotment_events(private_database)
    record_property("served", len(served))
    record_property("spent", str(figures.settled_cost))
    record_property("limit", str(LIMIT))
    record_property("allotment_events", len(grants))
    assert {r.cost for r in served} == {COST}
    assert figures.settled_cost <= LIMIT  # no overspend, across the three instances
    assert FITS - 2 <= len(served) <= FITS, (len(served), statuses)
    assert statuses == [402], statuses  # every other request: budget_exceeded
    assert reconcile(records, figures).clean
    assert {e.holder.split("/")[0] for e in grants} <= {"node0", "node1", "node2"}
    for gateway in gateways:
        assert gateway.stop() in (0, -signal.SIGTERM)
        assert gateway.tracebacks() == 0
    # A clean stop gives back what was unused: nothing stays held but what was spent.
    after = allotment_events(private_database)
    granted = sum((e.amount for e in after if isinstance(e, ev.AllotmentGranted)), Decimal(0))
    back = sum((e.amount for e in after if isinstance(e, ev.AllotmentReturned)), Decimal(0))
    assert granted - back == figures.settled_cost
    assert not [e for e in after if isinstance(e, ev.AllotmentExpired)]


RATED = make_config(
    keys=[
        virtual_key(
            rate_limit={"request_max_limit": FITS, "request_reset_duration": "1h"},
            budgets=[budget(str(100 * LIMIT))],
        )
    ],
    pricing_overrides=PRICES,
)
USE_S = 2.0  # a rate grant's units are usable this long (proxy/server/allotments.py)


def admissions(url: str) -> list[tuple[float, str]]:
    """(time, holder) of every request the ledger admitted, in time order."""
    store = Store(url, create_tables=False)
    try:
        found = [
            (e.timestamp.timestamp(), f"{e.instance}/{e.incarnation}")
            for _, e in store.iterate("usage")
            if isinstance(e, ev.RequestAdmitted)
        ]
    finally:
        store.close()
    return sorted(found)


def worst_excess(times: list[float], capacity: int, window_s: float) -> float:
    """The most, over every interval [a, b] of admissions, by which the admissions in it
    pass one instance's GCRA bound plus the use allowance: capacity + (b - a + USE_S) / T."""
    interval = window_s / capacity
    worst = -float(capacity)
    for i, start in enumerate(times):
        for j in range(i, len(times)):
            allowed = capacity + (times[j] - start + USE_S) / interval
            worst = max(worst, (j - i + 1) - allowed)
    return worst


@pytest.mark.fault_bound(120)
def test_300_concurrent_requests_on_three_instances_never_pass_a_rate_limit(
    private_database: str,
    mock_upstream: Callable[..., MockUpstreamProcess],
    served_gateway: Callable[..., ServedGateway],
    record_property: Callable[[str, Any], None],
    tmp_path: Path,
) -> None:
    """20 requests per hour, 300 at once over three instances: at most 20 admitted, every
    other a 429 whose Retry-After is when the limit admits again (T = 180 s after the burst)."""
    upstream = mock_upstream(latency_ms=50)
    gateways = start_cluster(served_gateway, private_database, upstream.url, tmp_path, config=RATED)

    started = time.time()
    results = asyncio.run(burst(gateways, PLANS))

    records = [r for result in results for r in result.records]
    served = [r for r in records if r.served]
    statuses = sorted({r.status for r in records if not r.served}, key=str)
    admitted = admissions(private_database)
    grants = [e for e in allotment_events(private_database) if e.budget.startswith("rate:")]
    record_property("served", len(served))
    record_property("admitted", len(admitted))
    record_property("allotment_events", len(grants))
    assert len(admitted) <= FITS, len(admitted)  # never past the limit, across the three
    assert len(served) >= FITS - 2, (len(served), statuses)  # little stranded
    assert statuses == [429], statuses  # every other request: request_limited
    assert reconcile(records, read_ledger(private_database)).clean
    retry_after, at = refused_retry_after(gateways[1]), time.time()
    record_property("retry_after_s", retry_after)
    first = min(e.timestamp.timestamp() for e in grants)
    assert first >= started - 1
    honest = 3600 / FITS - (at - first)  # one emission interval after the burst began
    assert honest - 2 <= retry_after <= honest + 2, (retry_after, honest)
    for gateway in gateways:
        assert gateway.stop() in (0, -signal.SIGTERM)
        assert gateway.tracebacks() == 0
    # A clean stop gives back what was unused: granted less returned is what was admitted.
    after = [e for e in allotment_events(private_database) if e.budget.startswith("rate:")]
    granted = sum((e.amount for e in after if isinstance(e, ev.AllotmentGranted)), Decimal(0))
    back = sum((e.amount for e in after if isinstance(e, ev.AllotmentReturned)), Decimal(0))
    assert granted - back == len(admitted)


def refused_retry_after(gateway: ServedGateway) -> int:
    """The Retry-After of one more request, refused while the limit is used up."""
    status, headers = answer(gateway, KEY)
    assert status == 429
    return int(headers["retry-after"])


@pytest.mark.fault_bound(150)
def test_a_kill9_under_a_rate_limit_leaves_the_others_going_and_the_limit_kept(
    private_database: str,
    mock_upstream: Callable[..., MockUpstreamProcess],
    served_gateway: Callable[..., ServedGateway],
    record_property: Callable[[str, Any], None],
    tmp_path: Path,
) -> None:
    """60 requests per minute, three instances under steady load, one killed -9 mid-load: the
    two others go on being served, and in every interval the admissions of all three stay
    within one instance's GCRA bound plus the use allowance (the victim's units lapse)."""
    capacity, window_s = 60, 60.0
    upstream = mock_upstream(latency_ms=50)
    config = make_config(
        keys=[
            virtual_key(
                rate_limit={"request_max_limit": capacity, "request_reset_duration": "1m"},
                budgets=[budget(str(1000 * LIMIT))],
            )
        ],
        pricing_overrides=PRICES,
    )
    gateways = start_cluster(
        served_gateway, private_database, upstream.url, tmp_path, config=config
    )
    victim, *others = gateways
    steady = [
        LoadPlan(
            requests=100_000,
            concurrency=2,
            stream_share=0.0,
            seed=s,
            max_tokens=MAX_TOKENS,
            deadline_s=12.0,
        )
        for s in range(3)
    ]
    loads = [BackgroundLoad(g.url, p).start() for g, p in zip(gateways, steady, strict=True)]
    loads[0].wait_served(3, timeout=30)
    victim.kill9()
    killed_at = time.time()
    results = [load.join(60) for load in loads]
    admitted = admissions(private_database)
    after_kill = [at for at, holder in admitted if at > killed_at + USE_S]
    survivors = [r for result in results[1:] for r in result.records if r.served]
    excess = worst_excess([at for at, _ in admitted], capacity, window_s)
    record_property("admitted", len(admitted))
    record_property("admitted_after_the_victims_units_lapsed", len(after_kill))
    record_property("worst_excess_over_bound", round(excess, 2))
    assert excess <= 1e-6, excess  # the limit is never passed, the victim's grants included
    assert len(after_kill) >= 3  # the survivors go on after the kill
    assert len(survivors) <= len(admitted)
    assert {holder.split("/")[0] for _, holder in admitted} == {"node0", "node1", "node2"}
    for gateway in others:
        assert gateway.tracebacks() == 0


@pytest.mark.fault_bound(150)
def test_a_kill9_strands_at_most_one_lease_until_it_expires(
    private_database: str,
    mock_upstream: Callable[..., MockUpstreamProcess],
    served_gateway: Callable[..., ServedGateway],
    record_property: Callable[[str, Any], None],
    tmp_path: Path,
) -> None:
    upstream = mock_upstream(latency_ms=50)
    # A budget the load does not exhaust before the kill: the victim holds an unused grant.
    roomy = make_config(
        keys=[virtual_key(budgets=[budget(str(10 * LIMIT))])], pricing_overrides=PRICES
    )
    gateways = start_cluster(served_gateway, private_database, upstream.url, tmp_path, config=roomy)
    victim, *others = gateways
    slow = [
        LoadPlan(requests=150, concurrency=4, stream_share=0.5, seed=s, max_tokens=MAX_TOKENS)
        for s in range(3)
    ]
    loads = [BackgroundLoad(g.url, p).start() for g, p in zip(gateways, slow, strict=True)]
    # By then the victim spends steadily and holds grants asked ahead of need, unused.
    loads[0].wait_served(40, timeout=30)
    victim.kill9()
    killed_at = time.monotonic()

    def expired() -> list[ev.AllotmentExpired] | None:
        found = [
            e for e in allotment_events(private_database) if isinstance(e, ev.AllotmentExpired)
        ]
        return found or None

    expiries = wait_for(expired, 4 * LEASE_S + 10, "the dead instance's lease to expire")
    expired_after = time.monotonic() - killed_at
    results = [load.join(60) for load in loads]
    survivors = [r for result in results[1:] for r in result.records if r.served]
    figures = read_ledger(private_database)
    record_property("expired_after_s", round(expired_after, 2))
    record_property("spent", str(figures.settled_cost))
    record_property("served_by_survivors", len(survivors))
    assert {e.holder.split("/")[0] for e in expiries} == {"node0"}
    assert {e.recorded_by.split("/")[0] for e in expiries} <= {"node1", "node2"}
    assert expired_after <= LEASE_S + 2 * LEASE_S  # unseen for a lease, noticed within a beat
    assert figures.settled_cost <= 10 * LIMIT
    assert expiries[0].amount > 0  # what the victim held and had not spent is free again
    assert len(survivors) >= FITS // 2  # the survivors go on after the kill
    # Restarted, the instance closes its orphans (charged at their reservation).
    victim.restart()
    assert read_ledger(private_database).open == set()
    for gateway in others:
        assert gateway.tracebacks() == 0


ADMIN = "gl-admin-cluster-test-token-0123456789abcdef"
CHANGES = 20


def answer(gateway: ServedGateway, key: str) -> tuple[int, Message]:
    """The status and headers of one small chat call with `key`."""
    body = orjson.dumps(
        {"model": "m1", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
    )
    request = urllib.request.Request(
        gateway.url + "/v1/chat/completions",
        body,
        {"authorization": f"Bearer {key}", "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - local
            return int(response.status), response.headers
    except urllib.error.HTTPError as error:
        return int(error.code), error.headers


def answer_status(gateway: ServedGateway, key: str) -> int:
    """The status of one small chat call with `key` (403 while the key is disabled)."""
    return answer(gateway, key)[0]


def enforced(gateway: ServedGateway, status: int) -> bool | None:
    """True once `gateway` answers OTHER_KEY with `status`."""
    return answer_status(gateway, OTHER_KEY) == status or None


@pytest.mark.fault_bound(120)
def test_a_governance_change_on_one_instance_is_enforced_on_the_others_within_1s(
    private_database: str,
    mock_upstream: Callable[..., MockUpstreamProcess],
    served_gateway: Callable[..., ServedGateway],
    record_property: Callable[[str, Any], None],
    tmp_path: Path,
) -> None:
    """A key disabled and enabled again on A, 20 times: each time B and C answer the new way
    (403, then 200 again) within 1 s of the change's reply on A (the slowest of B and C)."""
    upstream = mock_upstream()
    config = make_config(keys=[virtual_key(), virtual_key("k2", OTHER_KEY)])
    env = {
        "GOVLEDGER_ADMIN_TOKEN": ADMIN,
        "GOVLEDGER_SECRET_KEY_FILE": str(tmp_path / "secret.key"),
    }
    gateways = [
        served_gateway(private_database, config, upstream.url, instance=f"node{n}", env=env)
        for n in range(3)
    ]
    for gateway in gateways:
        gateway.start()
    first, *others = gateways
    admin = Client(first.url, ADMIN)
    delays = []
    for change in range(CHANGES):
        active = change % 2 == 1

        def flip(body: dict[str, Any], active: bool = active) -> dict[str, Any]:
            return {**body, "is_active": active}

        replace(admin, "/api/governance/virtual-keys/k2", flip)
        changed_at = time.monotonic()
        for gateway in others:
            wait_for(
                partial(enforced, gateway, 200 if active else 403),
                5,
                f"change {change} enforced on {gateway.instance}",
                interval=0.005,
            )
        delays.append(time.monotonic() - changed_at)
    ordered = sorted(delays)
    record_property("p50_ms", round(ordered[len(ordered) // 2] * 1000, 1))
    record_property("max_ms", round(ordered[-1] * 1000, 1))
    assert ordered[-1] < 1.0  # with 20 changes, p99 is the slowest one


@pytest.mark.fault_bound(120)
def test_serve_workers_runs_equal_instances_on_one_port_and_stops_them_cleanly(
    private_database: str,
    mock_upstream: Callable[..., MockUpstreamProcess],
    tmp_path: Path,
) -> None:
    """`serve --workers 3`: three members on one port share the budget; SIGTERM to the
    supervisor stops all three, each returning what it held unused."""
    upstream = mock_upstream()
    config_path = tmp_path / "config.json"
    config_path.write_text(orjson.dumps(CONFIG).decode().replace("{MOCK}", upstream.url))
    port = free_port()
    env = {
        **os.environ,
        "GOVLEDGER_DATABASE_URL": private_database,
        "GOVLEDGER_INSTANCE": "pool",
        "GOVLEDGER_SECRET_KEY_FILE": str(tmp_path / "secret.key"),
    }
    command = [GOVLEDGER, "serve", "--workers", "3", "--port", str(port)]
    command += ["--config", str(config_path)]
    with (tmp_path / "supervisor.err").open("wb") as err:
        supervisor = subprocess.Popen(command, env=env, stdout=err, stderr=err)
    try:

        def three_alive() -> bool | None:
            members = {m.holder.split("/")[0] for m in members_of(private_database) if m.alive}
            return members == {"pool-w1", "pool-w2", "pool-w3"} or None

        wait_for(three_alive, 60, "three workers alive")
        plan = LoadPlan(requests=60, concurrency=12, stream_share=0.0, max_tokens=MAX_TOKENS)
        result = asyncio.run(run_load(f"http://127.0.0.1:{port}", plan, []))
        assert FITS - 2 <= len(result.served) <= FITS  # the budget across the three workers
        assert read_ledger(private_database).settled_cost <= LIMIT
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(60) == 0
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
    assert all(m.stopped for m in members_of(private_database))


def members_of(url: str) -> list[Member]:
    """The members' heartbeats as the store has them."""
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('gl_members')")
        row = cur.fetchone()
        if row is None or row[0] is None:
            return []
        return read_members(cur, LEASE_S)
