"""Materialized usage views: budget usage per period, rate-limit state, the request log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any

import orjson

from govledger.ledger import events as ev
from govledger.ledger.charges import (
    RateCharge,
    rate_charges_of,
    reservations_of,
)
from govledger.ledger.money import json_default, plain
from govledger.ledger.route_params import DEFAULT_HEALTH, HealthParams
from govledger.projections.database import Cursor, OnRebuild, in_chunks, insert_rows
from govledger.projections.usage_state import BudgetUsage, Inflight, UsageState

ZERO = Decimal(0)
Amount = tuple[str, str, Decimal]  # (budget, period, amount) of a reservation or a charge


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
        """Apply a batch of (position, event) inside the caller's transaction, in bulk: the
        batch's deltas are summed in memory, then one row is written per request, budget
        period and rate limit (each read first in one query per kind)."""
        new_rows: dict[str, dict[str, Any]] = {}
        updates: list[dict[str, Any]] = []
        deltas: dict[tuple[str, str], list[Any]] = {}
        rate_items: list[tuple[RateCharge, float, bool]] = []
        held_before = self._held(cur, _closed_before(items))

        def delta(budget: str, period: str) -> list[Any]:
            found = deltas.get((budget, period))
            if found is None:
                found = deltas[(budget, period)] = [ZERO, ZERO, 0]
            return found

        for position, event in items:
            if isinstance(event, ev.RequestAdmitted):
                row = new_rows[event.request_id] = _admitted_row(position, event)
                for budget, period, amount in row["_reservations"]:
                    delta(budget, period)[1] += amount
                if event.rate:
                    now = event.timestamp.timestamp()
                    rate_items.extend((item, now, True) for item in rate_charges_of(event.rate))
            elif isinstance(event, ev.RequestSettled | ev.RequestAbandoned):
                found = new_rows.get(event.request_id)
                held = found["_reservations"] if found else held_before.get(event.request_id, ())
                for budget, period, amount in held:
                    delta(budget, period)[1] -= amount
                for budget, period, amount in amounts_of(event.charges):
                    d = delta(budget, period)
                    d[0] += amount
                    d[2] += 1
                change = _closed_fields(event)
                if found is not None:
                    found.update(change)
                else:
                    updates.append({"request_id": event.request_id, **change})
                if isinstance(event, ev.RequestSettled) and event.rate:
                    now = event.timestamp.timestamp()
                    rate_items.extend((item, now, False) for item in rate_charges_of(event.rate))
            elif isinstance(event, ev.RequestRejected):
                new_rows[event.request_id] = _rejected_row(position, event)
        self._write_requests(cur, new_rows, updates)
        self._write_budgets(cur, deltas)
        self._write_rates(cur, rate_items)

    @staticmethod
    def _held(cur: Cursor, request_ids: Sequence[str]) -> dict[str, list[Amount]]:
        """The reservations stored for requests admitted in earlier batches, in bulk."""
        held: dict[str, list[Amount]] = {}
        for chunk in in_chunks(request_ids):
            cur.execute(
                "SELECT request_id, reservations FROM gl_requests "  # noqa: S608 - marks only
                f"WHERE request_id IN ({', '.join('?' for _ in chunk)})",
                list(chunk),
            )
            for request_id, reservations in cur.fetchall():
                if reservations:
                    held[request_id] = amounts_of(orjson.loads(reservations))
        return held

    @staticmethod
    def _write_requests(
        cur: Cursor, rows: dict[str, dict[str, Any]], updates: list[dict[str, Any]]
    ) -> None:
        if rows:
            values = [ROW_VALUES(row) for row in rows.values()]
            insert_rows(cur, "gl_requests", REQUEST_COLUMNS, values)
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
        """One upsert per budget period of the batch: its stored row plus the batch's sums."""
        if not deltas:
            return
        stored: dict[tuple[str, str], tuple[Any, Any, Any]] = {}
        for chunk in in_chunks(sorted({budget for budget, _ in deltas})):
            cur.execute(
                "SELECT budget, period, settled, reserved, requests FROM gl_budget_usage "  # noqa: S608
                f"WHERE budget IN ({', '.join('?' for _ in chunk)})",
                list(chunk),
            )
            for budget, period, settled, reserved, requests in cur.fetchall():
                stored[(budget, period)] = (settled, reserved, requests)
        rows = []
        for key in sorted(deltas):  # a fixed order: two writers lock rows alike
            settled, reserved, requests = deltas[key]
            found = stored.get(key)
            if found is not None:
                settled = Decimal(found[0]) + settled
                reserved = Decimal(found[1]) + reserved
                requests = int(found[2]) + requests
            rows.append((*key, plain(settled), plain(reserved), requests))
        cur.executemany(
            "INSERT INTO gl_budget_usage (budget, period, settled, reserved, requests) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (budget, period) DO UPDATE SET "
            "settled = excluded.settled, reserved = excluded.reserved, "
            "requests = excluded.requests",
            rows,
        )

    @staticmethod
    def _write_rates(cur: Cursor, rate_items: list[tuple[RateCharge, float, bool]]) -> None:
        if not rate_items:
            return
        fold = UsageState()
        for chunk in in_chunks(sorted({item.limit for item, _, _ in rate_items})):
            cur.execute(
                "SELECT limit_id, tat FROM gl_rate_state "  # noqa: S608 - marks only
                f"WHERE limit_id IN ({', '.join('?' for _ in chunk)})",
                list(chunk),
            )
            for limit, tat in cur.fetchall():
                fold.tats[limit] = float(tat)
        for item, now, clamp in rate_items:
            fold.charge_rate(item, now, clamp)
        cur.executemany(
            "INSERT INTO gl_rate_state (limit_id, tat) VALUES (?, ?) "
            "ON CONFLICT (limit_id) DO UPDATE SET tat = excluded.tat",
            sorted(fold.tats.items()),
        )


def amounts_of(items: Sequence[Mapping[str, Any]]) -> list[Amount]:
    """(budget, period, amount) of an event's reservations or charges, read exactly as
    `charges.reservations_of` reads them, without building a dataclass per item (the fold's
    hot loop)."""
    return [
        (i["budget"], i["period"], a if isinstance(a := i["amount"], Decimal) else Decimal(str(a)))
        for i in items
    ]


def _closed_before(items: Sequence[tuple[int, ev.LedgerEvent]]) -> list[str]:
    """The requests a batch closes without admitting them first (their rows are stored)."""
    seen: set[str] = set()
    wanted: dict[str, None] = {}
    for _, event in items:
        if isinstance(event, ev.RequestAdmitted | ev.RequestRejected):
            seen.add(event.request_id)
        elif (
            isinstance(event, ev.RequestSettled | ev.RequestAbandoned)
            and event.request_id not in seen
        ):
            wanted[event.request_id] = None
    return list(wanted)


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
BLANK_ROW: dict[str, Any] = dict.fromkeys(REQUEST_COLUMNS)  # a new row: every column NULL
ROW_VALUES = itemgetter(*REQUEST_COLUMNS)  # a row's values in column order
INSERT_REQUEST = (
    f"INSERT INTO gl_requests ({', '.join(REQUEST_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in REQUEST_COLUMNS)})"
)


def _admitted_row(position: int, event: ev.RequestAdmitted) -> dict[str, Any]:
    return {
        **BLANK_ROW,
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
        "_reservations": amounts_of(event.reservations),
    }


def _closed_fields(event: ev.RequestSettled | ev.RequestAbandoned) -> dict[str, Any]:
    if isinstance(event, ev.RequestAbandoned):
        cost = sum((amount for _, _, amount in amounts_of(event.charges)), ZERO)
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
        **BLANK_ROW,
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
