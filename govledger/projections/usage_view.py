"""Materialized usage views: budget usage per period, rate-limit state, the request log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from govledger.ledger import events as ev
from govledger.ledger.charges import (
    RateCharge,
    Reservation,
    charges_of,
    rate_charges_of,
    reservations_of,
)
from govledger.ledger.money import json_default, plain
from govledger.ledger.route_params import DEFAULT_HEALTH, HealthParams
from govledger.projections.database import Cursor, OnRebuild
from govledger.projections.usage_state import BudgetUsage, Inflight, UsageState

ZERO = Decimal(0)


def dumps(value: Any) -> str:
    """JSON text for a column (Decimals as strings)."""
    return orjson.dumps(value, default=json_default).decode()


class UsageView:
    """Folds usage events into gl_budget_usage, gl_rate_state and gl_requests."""

    name = "usage"
    app = "usage"
    on_rebuild: OnRebuild = "refold"  # derived from the log alone: cleared and folded from event 1
    tables: tuple[str, ...] = ("gl_budget_usage", "gl_rate_state", "gl_requests")

    def process(self, cur: Cursor, items: Sequence[tuple[int, ev.LedgerEvent]]) -> None:
        """Apply a batch of (position, event) inside the caller's transaction."""
        new_rows: dict[str, dict[str, Any]] = {}
        updates: list[dict[str, Any]] = []
        deltas: dict[tuple[str, str], list[Any]] = {}
        rate_items: list[tuple[RateCharge, float, bool]] = []

        def delta(budget: str, period: str) -> list[Any]:
            return deltas.setdefault((budget, period), [ZERO, ZERO, 0])

        for position, event in items:
            if isinstance(event, ev.RequestAdmitted):
                new_rows[event.request_id] = _admitted_row(position, event)
                for r in new_rows[event.request_id]["_reservations"]:
                    delta(r.budget, r.period)[1] += r.amount
                now = event.timestamp.timestamp()
                rate_items.extend((item, now, True) for item in rate_charges_of(event.rate))
            elif isinstance(event, ev.RequestSettled | ev.RequestAbandoned):
                row = new_rows.get(event.request_id)
                held = row["_reservations"] if row else self._held(cur, event.request_id)
                for r in held:
                    delta(r.budget, r.period)[1] -= r.amount
                for c in charges_of(event.charges):
                    d = delta(c.budget, c.period)
                    d[0] += c.amount
                    d[2] += 1
                change = _closed_fields(event)
                if row is not None:
                    row.update(change)
                else:
                    updates.append({"request_id": event.request_id, **change})
                if isinstance(event, ev.RequestSettled):
                    now = event.timestamp.timestamp()
                    rate_items.extend((item, now, False) for item in rate_charges_of(event.rate))
            elif isinstance(event, ev.RequestRejected):
                new_rows[event.request_id] = _rejected_row(position, event)
        self._write_requests(cur, new_rows, updates)
        self._write_budgets(cur, deltas)
        self._write_rates(cur, rate_items)

    @staticmethod
    def _held(cur: Cursor, request_id: str) -> tuple[Reservation, ...]:
        cur.execute("SELECT reservations FROM gl_requests WHERE request_id = ?", (request_id,))
        found = cur.fetchone()
        return reservations_of(orjson.loads(found[0])) if found and found[0] else ()

    @staticmethod
    def _write_requests(
        cur: Cursor, rows: dict[str, dict[str, Any]], updates: list[dict[str, Any]]
    ) -> None:
        if rows:
            values = [[row.get(c) for c in REQUEST_COLUMNS] for row in rows.values()]
            cur.executemany(INSERT_REQUEST, values)
        shapes: dict[tuple[str, ...], list[list[Any]]] = {}
        for change in updates:
            names = tuple(k for k in change if k != "request_id")
            shapes.setdefault(names, []).append([change[n] for n in names] + [change["request_id"]])
        for names, values in shapes.items():
            cur.executemany(
                f"UPDATE gl_requests SET {', '.join(f'{n} = ?' for n in names)} "
                "WHERE request_id = ?",
                values,
            )

    @staticmethod
    def _write_budgets(cur: Cursor, deltas: dict[tuple[str, str], list[Any]]) -> None:
        for (budget, period), (settled, reserved, requests) in deltas.items():
            cur.execute(
                "SELECT settled, reserved, requests FROM gl_budget_usage "
                "WHERE budget = ? AND period = ?",
                (budget, period),
            )
            found = cur.fetchone()
            if found is None:
                cur.execute(
                    "INSERT INTO gl_budget_usage (budget, period, settled, reserved, requests) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (budget, period, plain(settled), plain(reserved), requests),
                )
            else:
                cur.execute(
                    "UPDATE gl_budget_usage SET settled = ?, reserved = ?, requests = ? "
                    "WHERE budget = ? AND period = ?",
                    (
                        plain(Decimal(found[0]) + settled),
                        plain(Decimal(found[1]) + reserved),
                        int(found[2]) + requests,
                        budget,
                        period,
                    ),
                )

    @staticmethod
    def _write_rates(cur: Cursor, rate_items: list[tuple[RateCharge, float, bool]]) -> None:
        if not rate_items:
            return
        fold = UsageState()
        for limit in {item.limit for item, _, _ in rate_items}:
            cur.execute("SELECT tat FROM gl_rate_state WHERE limit_id = ?", (limit,))
            found = cur.fetchone()
            if found is not None:
                fold.tats[limit] = float(found[0])
        for item, now, clamp in rate_items:
            fold.charge_rate(item, now, clamp)
        cur.executemany(
            "INSERT INTO gl_rate_state (limit_id, tat) VALUES (?, ?) "
            "ON CONFLICT (limit_id) DO UPDATE SET tat = excluded.tat",
            list(fold.tats.items()),
        )


LISTED_REQUEST_COLUMNS = (  # the request log as listed and exported (management, CLI)
    "position",
    "request_id",
    "admitted_at",
    "settled_at",
    "key_id",
    "team_id",
    "customer_id",
    "user_id",
    "surface",
    "model",
    "provider",
    "provider_key_id",
    "status",
    "reason",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cost",
    "price_source",
    "latency_ms",
)
# Every column of gl_requests: the listed ones and what the fold keeps for itself.
REQUEST_COLUMNS = (
    *LISTED_REQUEST_COLUMNS,
    "instance",
    "incarnation",
    "reservations",
    "rate",
    "attempts",
    "headers",
)
INSERT_REQUEST = (
    f"INSERT INTO gl_requests ({', '.join(REQUEST_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in REQUEST_COLUMNS)})"
)


def _admitted_row(position: int, event: ev.RequestAdmitted) -> dict[str, Any]:
    return {
        "request_id": event.request_id,
        "position": position,
        "admitted_at": event.timestamp.isoformat(),
        "key_id": event.key_id,
        "team_id": event.team_id,
        "customer_id": event.customer_id,
        "user_id": event.user_id,
        "surface": event.surface,
        "model": event.model,
        "provider": event.provider,
        "status": "admitted",
        "instance": event.instance,
        "incarnation": event.incarnation,
        "reservations": dumps(event.reservations),
        "rate": dumps(event.rate),
        "headers": dumps(event.headers),
        "_reservations": reservations_of(event.reservations),
    }


def _closed_fields(event: ev.RequestSettled | ev.RequestAbandoned) -> dict[str, Any]:
    if isinstance(event, ev.RequestAbandoned):
        cost = sum((c.amount for c in charges_of(event.charges)), ZERO)
        return {
            "settled_at": event.timestamp.isoformat(),
            "status": "abandoned",
            "reason": event.reason,
            "cost": plain(cost),
        }
    tokens = event.tokens
    return {
        "settled_at": event.timestamp.isoformat(),
        "status": event.status,
        "reason": event.reason,
        "model": event.model,
        "provider": event.provider,
        "provider_key_id": event.provider_key_id,
        "input_tokens": tokens.get("input", 0),
        "output_tokens": tokens.get("output", 0),
        "cached_tokens": tokens.get("cached", 0),
        "reasoning_tokens": tokens.get("reasoning", 0),
        "cost": plain(event.cost),
        "price_source": event.price_source,
        "latency_ms": event.latency_ms,
        "attempts": dumps(event.attempts),
    }


def _rejected_row(position: int, event: ev.RequestRejected) -> dict[str, Any]:
    return {
        "request_id": event.request_id,
        "position": position,
        "admitted_at": event.timestamp.isoformat(),
        "settled_at": event.timestamp.isoformat(),
        "key_id": event.key_id,
        "surface": event.surface,
        "model": event.model,
        "status": "rejected",
        "reason": f"{event.code} ({event.level}): {event.message}",
        "cost": "0",
        "headers": dumps(event.headers),
    }


def drop_past(cur: Cursor, cutoffs: Mapping[str, datetime]) -> dict[str, int]:
    """Retention on the request log: closed rows admitted before the `requests` cutoff go,
    the headers of rows admitted before the `headers` cutoff are emptied; rows per class."""
    dropped: dict[str, int] = {}
    if "requests" in cutoffs:
        done = cur.execute(
            "DELETE FROM gl_requests WHERE admitted_at < ? AND status <> 'admitted'",
            (cutoffs["requests"].isoformat(),),
        )
        dropped["requests"] = int(done.rowcount)
    if "headers" in cutoffs:
        done = cur.execute(
            "UPDATE gl_requests SET headers = NULL "
            "WHERE admitted_at < ? AND headers IS NOT NULL AND headers <> '{}'",
            (cutoffs["headers"].isoformat(),),
        )
        dropped["headers"] = int(done.rowcount)
    return dropped


def load_usage_state(
    cur: Cursor, now: datetime | None = None, health: HealthParams = DEFAULT_HEALTH
) -> UsageState:
    """Build the enforcement usage state from the views (latest period of each budget);
    with `now`, route health (folded with `health`) from the attempts of the requests
    admitted in its horizon."""
    state = UsageState()
    state.routes.configure(health)
    if now is not None:
        load_route_health(cur, state, now)
    cur.execute("SELECT budget, period, settled, reserved FROM gl_budget_usage")
    for budget, period, settled, reserved in cur.fetchall():
        held = state.budgets.get(budget)
        if held is None or period > held.period:
            state.budgets[budget] = BudgetUsage(period, Decimal(settled), Decimal(reserved))
    cur.execute("SELECT limit_id, tat FROM gl_rate_state")
    state.tats = {limit: float(tat) for limit, tat in cur.fetchall()}
    cur.execute(
        "SELECT request_id, reservations, rate, instance, incarnation, admitted_at "
        "FROM gl_requests WHERE status = 'admitted'"
    )
    for request_id, reservations, rate, instance, incarnation, admitted_at in cur.fetchall():
        state.inflight[request_id] = Inflight(
            reservations_of(orjson.loads(reservations)),
            rate_charges_of(orjson.loads(rate)),
            instance,
            incarnation,
            datetime.fromisoformat(admitted_at).timestamp(),
        )
    return state


def load_route_health(cur: Cursor, state: UsageState, now: datetime) -> None:
    """Fold the attempts of the requests settled within the health horizon before `now`."""
    since = datetime.fromtimestamp(now.timestamp() - state.routes.params.horizon_s, UTC)
    cur.execute(
        "SELECT settled_at, model, attempts, output_tokens FROM gl_requests "
        "WHERE admitted_at >= ? AND settled_at IS NOT NULL AND attempts IS NOT NULL",
        (since.isoformat(),),
    )
    for settled_at, model, attempts, output in cur.fetchall():
        at = datetime.fromisoformat(settled_at).timestamp()
        for attempt in orjson.loads(attempts):
            state.routes.observe(attempt, at, model or "", int(output or 0))
