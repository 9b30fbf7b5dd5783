"""Crash: kill -9 of the server, and of its whole process group, under mixed load on every
surface, plain and streaming, on both stores.

After the restart: every request the client was served is settled once at the cost it was
told, nothing is charged twice, every request the crash left open is abandoned at its
reservation, the views and exporters drain, and the gateway serves again.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.openai_support import budget, make_config, virtual_key
from tests.faults.harness import (
    BackgroundLoad,
    LoadPlan,
    LoadResult,
    MockUpstreamProcess,
    ServedGateway,
    read_ledger,
    reconcile,
    run_load,
    view_request_statuses,
    wait_drained,
    wait_for,
)

CONFIG = make_config(keys=[virtual_key(budgets=[budget("1000")])])
SURFACES = ("openai", "anthropic", "gemini")
# 50 ms before each upstream answer and 5 ms between stream chunks: requests are in flight.
UPSTREAM_LATENCY_MS = 50
DURING = LoadPlan(requests=400, concurrency=16, surfaces=SURFACES, seed=9, deadline_s=30)
KILL_AFTER_SERVED = 60
AFTER = LoadPlan(requests=40, concurrency=8, surfaces=SURFACES, seed=10, deadline_s=20)
ABANDONED = "process stopped before settling"


def killed_under_load(gateway: ServedGateway, kill: str) -> tuple[LoadResult, float]:
    """Start it, load it, kill -9 the server (or its process group) once KILL_AFTER_SERVED
    were served; the load's records and the moment of the kill, its children gone."""
    gateway.start()
    load = BackgroundLoad(gateway.url, DURING).start()
    load.wait_served(KILL_AFTER_SERVED, timeout=30)
    killed_at = time.monotonic()
    if kill == "server":
        gateway.kill9()
    else:
        gateway.kill9_group()
    during = load.join()
    # The commit and projection processes do not outlive the server.
    wait_for(lambda: not gateway.group(), 10, "the server's children to exit")
    return during, killed_at


@pytest.mark.fault_bound(75)
@pytest.mark.parametrize("kill", ["server", "process_group"])
def test_kill9_under_load_loses_no_served_request_and_closes_every_orphan(
    kill: str,
    store_url: str,
    mock_upstream: Callable[..., MockUpstreamProcess],
    served_gateway: Callable[..., ServedGateway],
    record_property: Callable[[str, Any], None],
) -> None:
    upstream = mock_upstream(latency_ms=UPSTREAM_LATENCY_MS)
    gateway = served_gateway(store_url, CONFIG, upstream.url)
    during, killed_at = killed_under_load(gateway, kill)

    crashed = read_ledger(store_url)
    assert crashed.double_charged == set()
    assert crashed.closed_without_admission == set()
    restart_s = gateway.restart()

    # Every request the crash left open is closed at the start, charged at its reservation.
    restarted = read_ledger(store_url)
    assert restarted.open == set()
    assert set(restarted.abandoned) == crashed.open
    assert set(restarted.abandoned_reasons) <= {ABANDONED}

    after = asyncio.run(run_load(gateway.url, AFTER, []))
    assert len(after.served) == AFTER.requests, after.statuses()

    figures = read_ledger(store_url)
    check = reconcile(during.records + after.records, figures)
    assert check.served == len(during.served) + AFTER.requests
    assert check.missing == []
    assert check.wrong_cost == []
    assert check.without_id == []
    assert check.double_charged == set()
    assert check.closed_without_admission == set()
    assert check.open == set()

    wait_drained(store_url, timeout=20)
    statuses = view_request_statuses(store_url)
    assert statuses["abandoned"] == len(crashed.open)
    assert sum(statuses.values()) == len(figures.admitted)

    # uvicorn re-raises SIGTERM after its graceful shutdown; -SIGKILL would mean it hung.
    assert gateway.stop() in (0, -signal.SIGTERM)
    assert "Traceback" not in gateway.log(start=2) + gateway.log(start=2, stream="out")

    upstream_calls = upstream.calls()
    figures_measured = {
        "in_flight_at_kill": during.in_flight_at(killed_at),
        "served_before_kill": len(during.served),
        "cut_at_kill": during.count(ending="cut"),
        "refused_after_kill": during.count(ending="no_response"),
        "settled_but_not_served": len(crashed.settled) - len(during.served),
        "orphans_closed": len(crashed.open),
        "upstream_calls_not_admitted": upstream_calls - len(figures.admitted),
        "missing": len(check.missing),
        "double": len(check.double_charged),
        "restart_s": round(restart_s, 2),
    }
    for name, value in figures_measured.items():
        record_property(name, value)
    print(f"kill -9 {kill} on {store_url.split(':')[0]}: {figures_measured}")


@pytest.mark.fault_bound(45)
def test_the_server_s_children_exit_quietly_when_it_is_killed(
    sqlite_url: str,
    mock_upstream: Callable[..., MockUpstreamProcess],
    served_gateway: Callable[..., ServedGateway],
) -> None:
    upstream = mock_upstream()
    gateway = served_gateway(sqlite_url, CONFIG, upstream.url)
    gateway.start()
    asyncio.run(run_load(gateway.url, LoadPlan(requests=10, concurrency=2), []))
    gateway.kill9()
    wait_for(lambda: not gateway.group(), 10, "the server's children to exit")
    assert "Traceback" not in gateway.logs()


AFTER_RESPONSE = {**CONFIG, "ledger": {"durability": "after_response"}}
# The writer's stall threshold (GOVLEDGER_STALL_AFTER, 3 s): a commit unanswered for longer
# stops admissions, so no settlement waits in memory longer than this while requests are served.
LOSS_WINDOW_BOUND_S = 3.0


@pytest.mark.fault_bound(75)
def test_kill9_in_after_response_mode_loses_only_settlements_served_just_before_it(
    store_url: str,
    mock_upstream: Callable[..., MockUpstreamProcess],
    served_gateway: Callable[..., ServedGateway],
    record_property: Callable[[str, Any], None],
) -> None:
    """The loss window of `ledger.durability: after_response`: responses served whose
    settlement was still in memory at the kill. Each one was served within the bound before
    the kill; its admission, if committed, is closed at restart at its reservation (charged
    the worst case); nothing is charged twice and nothing stays open."""
    upstream = mock_upstream(latency_ms=UPSTREAM_LATENCY_MS)
    gateway = served_gateway(store_url, AFTER_RESPONSE, upstream.url)
    during, killed_at = killed_under_load(gateway, "server")

    crashed = read_ledger(store_url)
    assert crashed.double_charged == set()
    assert crashed.closed_without_admission == set()
    gateway.restart()
    restarted = read_ledger(store_url)
    assert restarted.open == set()
    assert restarted.double_charged == set()

    check = reconcile(during.records, restarted)
    served_at = {
        r.request_id: r.began + r.total_s
        for r in during.served
        if r.request_id is not None and r.began is not None and r.total_s is not None
    }
    lost = [rid for rid in check.missing if rid not in restarted.admitted]
    ages = sorted(killed_at - served_at[rid] for rid in check.missing)
    assert check.wrong_cost == []
    assert ages == [] or ages[-1] <= LOSS_WINDOW_BOUND_S, ages
    assert set(check.missing) - set(lost) <= set(restarted.abandoned)
    figures_measured = {
        "served_before_kill": len(during.served),
        "served_settlement_missing": len(check.missing),
        "of_which_admission_also_missing": len(lost),
        "oldest_missing_served_ms_before_kill": round(ages[-1] * 1000, 1) if ages else 0,
    }
    for name, value in figures_measured.items():
        record_property(name, value)
    print(f"kill -9 after_response on {store_url.split(':')[0]}: {figures_measured}")
    assert gateway.stop() in (0, -signal.SIGTERM)
