"""The usage view folded in bulk batches gives exactly the rows of the one-by-one fold."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from govledger.ledger import events as ev
from govledger.projections.database import ViewDatabase
from govledger.projections.usage_view import UsageView

START = datetime(2026, 1, 31, 22, 0, tzinfo=UTC)
PERIODS = ("2026-01-31T00:00:00+00:00", "2026-02-01T00:00:00+00:00")
LEVELS = ("virtual_key", "team", "customer")
TABLES = {
    "gl_budget_usage": "budget, period",
    "gl_rate_state": "limit_id",
    "gl_requests": "request_id",
}

amounts = st.decimals(min_value=Decimal("0"), max_value=Decimal("5"), places=6)
requests = st.fixed_dictionaries(
    {
        "key": st.integers(0, 2),
        "period": st.integers(0, 1),
        "levels": st.integers(1, 3),
        "reserved": amounts,
        "charged": amounts,
        "tokens": st.integers(-50, 50),  # the token limit's adjustment: negative refunds
        "outcome": st.sampled_from(("settled", "abandoned", "open", "rejected")),
        "delay": st.integers(0, 6),  # how many requests later the close comes
    }
)


def budgets(request: dict[str, Any]) -> list[str]:
    """The budget ids a request holds, one per level."""
    return [f"{level}:k{request['key']}#1d" for level in LEVELS[: request["levels"]]]


def request_events(index: int, request: dict[str, Any]) -> list[tuple[int, ev.LedgerEvent]]:
    """A request's events, each with the slot it takes in the log (admission first)."""
    rid = uuid.UUID(int=index + 1)
    at = START + timedelta(seconds=index)
    period = PERIODS[request["period"]]
    amount = request["reserved"]
    held = [{"budget": b, "period": period, "amount": amount} for b in budgets(request)]
    limit = {"limit": f"virtual_key:k{request['key']}#requests", "capacity": 100, "window_s": 60.0}
    tokens = {"limit": f"virtual_key:k{request['key']}#tokens", "capacity": 1000, "window_s": 60.0}
    base: dict[str, Any] = {"originator_id": rid, "timestamp": at, "request_id": rid.hex}
    if request["outcome"] == "rejected":
        rejected = ev.RequestRejected(
            **base,
            originator_version=1,
            key_id=f"k{request['key']}",
            surface="openai_chat",
            model="m",
            code="budget_exceeded",
            level="team",
            message="over",
            headers={},
        )
        return [(2 * index, rejected)]
    admitted = ev.RequestAdmitted(
        **base,
        originator_version=1,
        instance="i",
        incarnation="a",
        key_id=f"k{request['key']}",
        team_id="t",
        customer_id="c",
        surface="openai_chat",
        model="m",
        provider=None,
        reservations=held,
        rate=[
            {**limit, "kind": "requests", "amount": 1},
            {**tokens, "kind": "tokens", "amount": 60},
        ],
        estimate={"input": 10, "output": 50},
        headers={"x-team": "t"},
    )
    charges = [{**r, "amount": request["charged"]} for r in held]
    later = {**base, "timestamp": at + timedelta(seconds=request["delay"] + 0.5)}
    close: ev.LedgerEvent | None = None
    if request["outcome"] == "settled":
        close = ev.RequestSettled(
            **later,
            originator_version=2,
            instance="i",
            incarnation="a",
            status="ok",
            reason="",
            provider="p",
            provider_key_id="pk",
            model="m",
            tokens={"input": 10, "output": 7, "cached": 0, "reasoning": 0},
            cost=request["charged"],
            price_source="override",
            charges=charges,
            rate=[{**tokens, "kind": "tokens", "amount": request["tokens"]}],
            attempts=[{"provider": "p", "key_id": "pk", "status": 200, "error": "", "ms": 1.0}],
            latency_ms=12.5,
        )
    elif request["outcome"] == "abandoned":
        close = ev.RequestAbandoned(
            **later,
            originator_version=2,
            instance="i",
            incarnation="a",
            reason="instance restarted",
            charges=charges,
        )
    slots: list[tuple[int, ev.LedgerEvent]] = [(2 * index, admitted)]
    if close is not None:
        slots.append((2 * (index + request["delay"]) + 1, close))
    return slots


def log_of(drawn: Sequence[dict[str, Any]]) -> list[tuple[int, ev.LedgerEvent]]:
    """The requests' events in log order, numbered from 1 like notifications."""
    slots = [slot for i, r in enumerate(drawn) for slot in request_events(i, r)]
    ordered = [event for _, event in sorted(slots, key=lambda s: s[0])]
    return list(enumerate(ordered, start=1))


def fold(folder: Path, name: str, log: list[tuple[int, ev.LedgerEvent]], sizes: list[int]) -> Any:
    """Every row of the usage tables after folding `log` in batches of `sizes` (cycled)."""
    db = ViewDatabase(f"sqlite:///{folder}/{name}.sqlite")
    db.create()
    view, i, k = UsageView(), 0, 0
    try:
        while i < len(log):
            size = sizes[k % len(sizes)]
            with db.transaction() as cur:
                view.process(cur, log[i : i + size])
            i, k = i + size, k + 1
        return {t: db.query(f"SELECT * FROM {t} ORDER BY {o}") for t, o in TABLES.items()}  # noqa: S608
    finally:
        db.close()


@settings(max_examples=60, deadline=None)
@given(
    drawn=st.lists(requests, min_size=1, max_size=40),
    sizes=st.lists(st.integers(1, 30), min_size=1, max_size=8),
)
def test_bulk_batches_fold_to_the_rows_of_the_one_by_one_fold(
    drawn: list[dict[str, Any]], sizes: list[int]
) -> None:
    log = log_of(drawn)
    with tempfile.TemporaryDirectory() as folder:
        one_by_one = fold(Path(folder), "single", log, [1])
        in_bulk = fold(Path(folder), "bulk", log, sizes)
        whole = fold(Path(folder), "whole", log, [len(log)])
    assert in_bulk == one_by_one
    assert whole == one_by_one
    assert one_by_one["gl_requests"]  # the fold wrote something to compare


def test_a_close_in_a_later_batch_releases_what_its_admission_reserved() -> None:
    drawn = [
        {"key": 0, "period": 0, "levels": 3, "reserved": Decimal("2"), "charged": Decimal("1"),
         "tokens": -10, "outcome": "settled", "delay": 0},
    ]  # fmt: skip
    log = log_of(drawn)
    with tempfile.TemporaryDirectory() as folder:
        rows = fold(Path(folder), "split", log, [1])
    assert {(b, s, r, n) for b, _, s, r, n in rows["gl_budget_usage"]} == {
        (f"{level}:k0#1d", "1", "0", 1) for level in LEVELS
    }
