"""The fault harness itself: the private PostgreSQL goes down and comes back as the outage
cases need, a frozen one hangs, the time bound interrupts, and the reconciliation and the
stream classification find what they are meant to find."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from tests.faults.harness import (
    DeadlineExceededError,
    LedgerFigures,
    PrivatePostgres,
    RequestRecord,
    alarm,
    reconcile,
)
from tests.faults.harness.load import stream_ending


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
