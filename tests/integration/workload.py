"""What the integration tests put in a ledger: a config file, request events, table snapshots."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from govledger.ledger import events as ev
from govledger.projections.database import VIEW_TABLES, ViewDatabase

T0 = datetime(2025, 3, 30, 22, 0, tzinfo=UTC)
BUDGETS = ("virtual_key:ci#1d", "team:platform#1w", "customer:acme#1M")
LIMITS = (
    {"limit": "virtual_key:ci#requests", "kind": "requests", "capacity": 60, "window_s": 60.0},
    {"limit": "virtual_key:ci#tokens", "kind": "tokens", "capacity": 100000, "window_s": 3600.0},
)
CONFIG: dict[str, Any] = {
    "providers": [
        {
            "name": "openai",
            "type": "openai",
            "base_url": "https://api.openai.com/v1",
            "keys": [{"id": "main", "value": "sk-proj-literal-0123456789"}],
        }
    ],
    "customers": [
        {"id": "acme", "name": "Acme", "budgets": [{"max_limit": "100", "reset_duration": "1M"}]}
    ],
    "teams": [
        {
            "id": "platform",
            "name": "Platform",
            "customer_id": "acme",
            "budgets": [{"max_limit": "25", "reset_duration": "1w"}],
        }
    ],
    "virtual_keys": [
        {
            "id": "ci",
            "name": "CI",
            "value": "sk-bf-ci-0123456789abcdef",
            "team_id": "platform",
            "budgets": [{"max_limit": "5.00", "reset_duration": "1d"}],
            "provider_configs": [{"provider": "openai"}],
        },
        {"id": "old", "name": "Old", "customer_id": "acme"},
    ],
}


def config_with(edit: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    """A copy of CONFIG after an in-place edit."""
    raw = copy.deepcopy(CONFIG)
    edit(raw)
    return raw


def period_of(budget: str, at: datetime) -> str:
    """The period key of one of the BUDGETS at an instant (day, week or month, UTC)."""
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    if budget.endswith("#1d"):
        return day.isoformat()
    if budget.endswith("#1w"):
        return (day - timedelta(days=day.weekday())).isoformat()
    return day.replace(day=1).isoformat()


@dataclass
class Requests:
    """A generator of request events with rising timestamps, ids unique per test."""

    seed: int = 0
    clock: datetime = T0
    count: int = 0
    open: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def tick(self) -> datetime:
        self.clock += timedelta(
            seconds=self.rng.randint(1, 1200), microseconds=self.rng.randint(0, 999999)
        )
        return self.clock

    def next_id(self) -> UUID:
        self.count += 1
        return UUID(int=(self.seed << 64) + self.count)

    def admitted(self, amount: Decimal | None = None) -> ev.RequestAdmitted:
        at = self.tick()
        rid = self.next_id()
        bound = amount if amount is not None else Decimal(self.rng.randint(1, 90_000)) / 1_000_000
        reservations = [{"budget": b, "period": period_of(b, at), "amount": bound} for b in BUDGETS]
        tokens = self.rng.randint(10, 4000)
        self.open[str(rid)] = reservations
        return ev.RequestAdmitted(
            originator_id=rid,
            originator_version=1,
            timestamp=at,
            request_id=str(rid),
            instance="gw-1",
            incarnation="first",
            key_id="ci",
            team_id="platform",
            customer_id="acme",
            surface="openai",
            model="gpt-4o",
            provider=None,
            reservations=reservations,
            rate=[
                {**limit, "amount": 1 if limit["kind"] == "requests" else tokens}
                for limit in LIMITS
            ],
            estimate={"input": tokens, "output": 0},
            headers={"x-team": "platform"},
        )

    def settled(self, request_id: str | None = None) -> ev.RequestSettled:
        rid = request_id or self.rng.choice(sorted(self.open))
        held = self.open.pop(rid)
        cost = held[0]["amount"] * self.rng.randint(0, 100) / 100
        return ev.RequestSettled(
            originator_id=UUID(rid),
            originator_version=2,
            timestamp=self.tick(),
            request_id=rid,
            instance="gw-1",
            incarnation="first",
            status="ok",
            reason="",
            provider="openai",
            provider_key_id="main",
            model="gpt-4o-2024-08-06",
            tokens={"input": 12, "output": 34, "cached": 5, "reasoning": 0},
            cost=cost,
            price_source="genai-prices",
            charges=[{**item, "amount": cost} for item in held],
            rate=[{**LIMITS[1], "amount": -self.rng.randint(0, 10)}],
            attempts=[
                {"provider": "openai", "key_id": "main", "status": 200, "error": "", "ms": 8.5}
            ],
            latency_ms=12.25,
        )

    def abandoned(self, request_id: str | None = None) -> ev.RequestAbandoned:
        rid = request_id or self.rng.choice(sorted(self.open))
        held = self.open.pop(rid)
        return ev.RequestAbandoned(
            originator_id=UUID(rid),
            originator_version=2,
            timestamp=self.tick(),
            request_id=rid,
            instance="gw-1",
            incarnation="second",
            reason="process stopped before settling",
            charges=held,
        )

    def rejected(self) -> ev.RequestRejected:
        rid = self.next_id()
        return ev.RequestRejected(
            originator_id=rid,
            originator_version=1,
            timestamp=self.tick(),
            request_id=str(rid),
            key_id="ci",
            surface="openai",
            model="gpt-4o",
            code="budget_exceeded",
            level="team",
            message="budget exceeded at team 'platform'",
            headers={},
        )

    def mixed(self, count: int) -> list[ev.LedgerEvent]:
        """A random mix: admissions, settlements, abandonments and rejections."""
        events: list[ev.LedgerEvent] = []
        for _ in range(count):
            roll = self.rng.random()
            if roll < 0.45 or not self.open:
                events.append(self.admitted())
            elif roll < 0.8:
                events.append(self.settled())
            elif roll < 0.9:
                events.append(self.abandoned())
            else:
                events.append(self.rejected())
        return events


def snapshot(db: ViewDatabase) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every view table and of the tracking table, in a stable order."""
    tables = {}
    for table in (*VIEW_TABLES, "gl_tracking"):
        rows = db.query(f"SELECT * FROM {table} ORDER BY 1, 2")  # noqa: S608 - fixed names
        tables[table] = [tuple(row) for row in rows]
    return tables
