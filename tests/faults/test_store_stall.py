"""A store that stalls (another connection holds SQLite's write lock) under plain and
streaming load: new requests are refused within 1 s, requests already at the upstream answer
503 or end their stream with an error event, and once the lock is released every upstream
call is in the ledger, once, with the gateway's figures equal to it."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway, mock_stats
from tests.e2e.openai_support import async_client, budget, hi, make_config, virtual_key
from tests.faults.harness import read_ledger

DEADLINE_S = 60


async def plain(gateway: RunningGateway, model: str) -> tuple[str, float]:
    """One chat call: its outcome (`200` or the error code) and how long it took."""
    started = time.monotonic()
    async with async_client(gateway, timeout=30) as sdk:
        try:
            await sdk.chat.completions.create(model=model, messages=hi(), max_tokens=5)
            return "200", time.monotonic() - started
        except openai.APIStatusError as error:
            return f"{error.status_code} {error.code}", time.monotonic() - started


async def streamed(gateway: RunningGateway, model: str) -> tuple[str, float]:
    """One streamed chat call: `done`, `error event`, or the HTTP refusal."""
    started = time.monotonic()
    async with async_client(gateway, timeout=30) as sdk:
        try:
            stream = await sdk.chat.completions.create(
                model=model, messages=hi(), max_tokens=5, stream=True
            )
            async for _ in stream:
                pass
            return "done", time.monotonic() - started
        except openai.APIStatusError as error:
            return f"{error.status_code} {error.code}", time.monotonic() - started
        except openai.APIError as error:  # an `error` event inside the stream
            assert "ledger" in str(error), error
            return "error event", time.monotonic() - started


def test_a_stalled_store_refuses_new_requests_fast_and_loses_no_upstream_call(
    gateway_factory: Callable[..., RunningGateway],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"sqlite:///{tmp_path}/ledger.sqlite"
    config = make_config(keys=[virtual_key(budgets=[budget("100")])])
    gateway = gateway_factory(config, url, settle_timeout_s=1.0, stall_after_s=1.0)
    lock = sqlite3.connect(tmp_path / "ledger.usage.sqlite", isolation_level=None, timeout=1)

    async def scenario() -> dict[str, Any]:
        assert (await plain(gateway, "m1"))[0] == "200"
        # At the upstream (m1-slow answers after 2 s) when the lock is taken.
        slow = [asyncio.create_task(plain(gateway, "m1-slow")) for _ in range(3)]
        slow += [asyncio.create_task(streamed(gateway, "m1-slow")) for _ in range(3)]
        await asyncio.sleep(0.5)
        lock.execute("BEGIN EXCLUSIVE")
        first = await plain(gateway, "m1")  # admitted before the stall shows: 503 after 1 s
        await asyncio.sleep(0.6)
        during = await asyncio.gather(
            *(plain(gateway, "m1") for _ in range(5)), *(streamed(gateway, "m1") for _ in range(5))
        )
        in_flight = await asyncio.gather(*slow)
        lock.execute("COMMIT")
        released = time.monotonic()
        while (await plain(gateway, "m1"))[0] != "200":
            assert time.monotonic() - released < 2, "no recovery within 2 s"
            await asyncio.sleep(0.05)
        recovered = time.monotonic() - released
        after = await asyncio.gather(*(plain(gateway, "m1") for _ in range(3)))
        return {
            "first": first,
            "during": during,
            "in_flight": in_flight,
            "recovered": recovered,
            "after": after,
        }

    result = asyncio.run(asyncio.wait_for(scenario(), DEADLINE_S))
    lock.close()

    assert result["first"][0] == "503 ledger_unavailable"
    for outcome, took in result["during"]:
        assert outcome == "503 ledger_unavailable" and took < 1.0, (outcome, took)
    plain_slow = [o for o, _ in result["in_flight"][:3]]
    stream_slow = [o for o, _ in result["in_flight"][3:]]
    assert plain_slow == ["503 ledger_unavailable"] * 3
    assert stream_slow == ["error event"] * 3
    assert [o for o, _ in result["after"]] == ["200"] * 3

    runtime = gateway.runtime
    deadline = time.monotonic() + 10
    while runtime.writer.backlog and time.monotonic() < deadline:
        time.sleep(0.05)
    upstream_calls = mock_stats(gateway)["requests"]
    gateway.stop()
    figures = read_ledger(url)
    assert figures.upstream_attempts == upstream_calls  # every upstream call is recorded
    assert figures.double_charged == set() and figures.settled_before_admitted == []
    assert figures.open == set() and not runtime.usage.inflight
    assert figures.closed_without_admission == set()
    [key_budget] = [b for name, b in runtime.usage.budgets.items() if "virtual_key" in name]
    assert key_budget.settled == figures.settled_cost > 0  # memory equals the ledger, to the digit
    assert key_budget.reserved == 0
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert tracebacks == []
