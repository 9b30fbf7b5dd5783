"""The fault harness itself: the private PostgreSQL goes down and comes back as the outage
cases need, a frozen one hangs, the time bound interrupts, and the reconciliation and the
stream classification find what they are meant to find."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from tests.e2e.openai_support import make_config
from tests.faults.harness import (
    DeadlineExceededError,
    LedgerFigures,
    LoadPlan,
    MockUpstreamProcess,
    PrivatePostgres,
    RequestRecord,
    ServedGateway,
    alarm,
    read_ledger,
    reconcile,
    run_load,
    wait_for,
)
from tests.faults.harness.load import stream_ending

CONFIG = make_config()


@pytest.mark.fault_bound(60)
def test_a_private_postgres_goes_down_at_once_and_comes_back_on_its_port_with_its_data(
    private_postgres: PrivatePostgres,
    private_database: str,
    record_property: Callable[[str, Any], None],
) -> None:
    with psycopg.connect(private_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (n INT)")
        conn.execute("INSERT INTO kept VALUES (7)")
    held = psycopg.connect(private_database, autocommit=True)

    private_postgres.stop_immediate()
    assert not private_postgres.running
    with pytest.raises(psycopg.OperationalError):
        held.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(private_database, connect_timeout=2)

    restart_s = private_postgres.restart()
    with psycopg.connect(private_database) as conn:
        assert conn.execute("SELECT n FROM kept").fetchall() == [(7,)]
    record_property("initdb_s", round(private_postgres.initdb_s or 0, 2))
    record_property("first_start_s", round(private_postgres.start_s[0], 2))
    record_property("restart_s", round(restart_s, 2))
    print(
        f"private PostgreSQL: initdb {private_postgres.initdb_s:.2f}s,"
        f" start {private_postgres.start_s[0]:.2f}s, restart after -m immediate {restart_s:.2f}s"
    )


@pytest.mark.fault_bound(30)
def test_a_frozen_private_postgres_hangs_connections_until_thawed(
    private_postgres: PrivatePostgres, private_database: str
) -> None:
    private_postgres.freeze()
    began = time.monotonic()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(private_database, connect_timeout=1)
    assert time.monotonic() - began >= 0.9  # it waited: nothing refused the connection
    private_postgres.thaw()
    with psycopg.connect(private_database, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_the_alarm_interrupts_a_body_that_runs_over_and_restores_the_enclosing_one() -> None:
    began = time.monotonic()
    with pytest.raises(DeadlineExceededError, match="over its bound of 0.2s"), alarm(0.2, "nap"):
        time.sleep(5)
    assert time.monotonic() - began < 2
    with pytest.raises(DeadlineExceededError, match="outer"), alarm(0.4, "outer"):
        with alarm(0.1, "inner"):
            pass
        time.sleep(5)


@pytest.mark.parametrize(
    ("surface", "text", "ending"),
    [
        ("openai", b'data: {}\n\n: govledger-cost-usd 1\n\ndata: [DONE]\n\n', "complete"),
        ("openai", b'data: {"choices":[]}\n\n', "cut"),
        ("openai", b'data: {"choices":[]}\n\ndata: {"error":{"message":"x"}}\n\n', "error_event"),
        ("openai", b'data: {"choices":[]}\n\ndata: [DO', "cut"),
        ("anthropic", b"event: ping\ndata: {}\n\nevent: message_stop\ndata: {}\n\n", "complete"),
        ("anthropic", b"event: ping\ndata: {}\n\nevent: error\ndata: {}\n\n", "error_event"),
        ("gemini", b'data: {"candidates":[{"finishReason":"STOP"}]}\n\n', "complete"),
        ("gemini", b'data: {"candidates":[{"content":{}}]}\n\n', "cut"),
        ("gemini", b"", "cut"),
    ],
)  # fmt: skip
def test_streams_are_classified_by_how_they_ended(surface: str, text: bytes, ending: str) -> None:
    assert stream_ending(surface, text) == ending


def _served(index: int, request_id: str | None, cost: str | None, stream: bool = False) -> Any:
    told = Decimal(cost) if cost is not None else None
    return RequestRecord(index, "openai", stream, 200, "complete", request_id, told)


def test_reconciliation_finds_missing_mischarged_doubled_and_open_requests() -> None:
    figures = LedgerFigures(
        admitted={"a", "b", "c", "d", "e"},
        settled={"a": [Decimal("0.1")], "b": [Decimal("0.2")], "c": [Decimal(1), Decimal(1)]},
        abandoned=Counter({"d": 1, "x": 1}),
    )
    records = [
        _served(0, "a", "0.1"),  # fine
        _served(1, "b", "0.3"),  # told 0.3, charged 0.2
        _served(2, "m", "0.1"),  # not in the ledger
        _served(3, None, "0.1"),  # no request id
        _served(4, "a", None, stream=True),  # a stream without a cost note: settled is enough
        RequestRecord(5, "openai", True, 200, "cut", "z"),  # not served: not checked
    ]
    check = reconcile(records, figures)
    assert check.served == 5
    assert check.missing == ["m"]
    assert check.wrong_cost == [("b", Decimal("0.3"), Decimal("0.2"))]
    assert check.without_id == [3]
    assert check.double_charged == {"c"}
    assert check.closed_without_admission == {"x"}
    assert check.open == {"e"}
    assert not check.clean
    assert reconcile(records[:1], LedgerFigures({"a"}, {"a": [Decimal("0.1")]})).clean


@pytest.mark.fault_bound(80)
def test_a_served_gateway_on_a_private_postgres_sees_its_store_go_and_come_back(
    private_postgres: PrivatePostgres,
    private_database: str,
    mock_upstream: Callable[..., MockUpstreamProcess],
    served_gateway: Callable[..., ServedGateway],
    record_property: Callable[[str, Any], None],
) -> None:
    upstream = mock_upstream()
    gateway = served_gateway(private_database, CONFIG, upstream.url)
    gateway.start()
    before = asyncio.run(run_load(gateway.url, LoadPlan(requests=20, concurrency=4), []))
    assert len(before.served) == 20
    assert reconcile(before.records, read_ledger(private_database)).clean

    # The bounds here are the harness's, not promises: docs/reliability.md has the figures.
    private_postgres.stop_immediate()
    down = time.monotonic()
    wait_for(lambda: gateway.readyz() == 503, 10, "/readyz to say the store is down")
    noticed_s = time.monotonic() - down
    private_postgres.restart()
    up = time.monotonic()
    wait_for(lambda: gateway.readyz() == 200, 30, "/readyz to say the store is back")
    back_s = time.monotonic() - up

    after = asyncio.run(run_load(gateway.url, LoadPlan(requests=20, concurrency=4, seed=1), []))
    assert len(after.served) == 20, after.statuses()
    assert reconcile(before.records + after.records, read_ledger(private_database)).clean
    record_property("readyz_503_after_s", round(noticed_s, 2))
    record_property("readyz_200_after_s", round(back_s, 2))
    print(f"store down: /readyz 503 after {noticed_s:.2f}s; back: 200 after {back_s:.2f}s")
