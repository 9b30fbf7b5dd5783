"""/api/reports/spend: cost, requests and tokens per period and group, from the request log."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from govledger.ledger.config import credential_headers
from govledger.proxy.management.audit import MAX_POSITION, From, Limit, To, where
from govledger.proxy.management.auth import Principal, management, require
from govledger.proxy.management.errors import invalid
from govledger.proxy.management.exports import EXPORTED, Format, render

GroupBy = Literal["customer", "team", "user", "virtual_key", "provider", "model"]
Granularity = Literal["hour", "day", "month"]
GROUP_COLUMN = {
    "customer": "customer_id",
    "team": "team_id",
    "user": "user_id",
    "virtual_key": "key_id",
    "provider": "provider",
    "model": "model",
}
# Periods are prefixes of the ISO text of the admission time (UTC): 2026-11-27T10 is an hour.
PREFIX = {"hour": 13, "day": 10, "month": 7}
COLUMNS = ["period", "group", "requests", "cost", "input_tokens", "output_tokens"]


@dataclass
class Total:
    """The spend of one group in one period."""

    requests: int = 0
    cost: Decimal = field(default_factory=Decimal)
    input_tokens: int = 0
    output_tokens: int = 0


def spend(rows: list[tuple[Any, ...]], granularity: Granularity) -> list[dict[str, Any]]:
    """Totals per (period, group) of settled rows (admitted_at, group, cost, in, out), in order."""
    totals: dict[tuple[str, str], Total] = {}
    for admitted_at, group, cost, input_tokens, output_tokens in rows:
        total = totals.setdefault((admitted_at[: PREFIX[granularity]], group or ""), Total())
        total.requests += 1
        total.cost += Decimal(cost)
        total.input_tokens += int(input_tokens or 0)
        total.output_tokens += int(output_tokens or 0)
    return [
        {"period": period, "group": group or None, **vars(total)}
        for (period, group), total in sorted(totals.items())
    ]


def header_of(headers: Any, name: str) -> str | None:
    """One recorded request header out of a request row's `headers` JSON text."""
    try:
        recorded = orjson.loads(headers) if headers else None
    except orjson.JSONDecodeError:
        return None
    value = recorded.get(name) if isinstance(recorded, dict) else None
    return value if isinstance(value, str) else None


def router() -> APIRouter:
    """The reports' endpoints."""
    api = APIRouter(prefix="/api/reports", tags=["reports"])

    @api.get("/spend", responses=EXPORTED)
    async def spend_report(
        request: Request,
        group_by: GroupBy = "virtual_key",
        granularity: Granularity = "day",
        start: From = None,
        end: To = None,
        cursor: Annotated[
            int | None, Query(ge=0, le=MAX_POSITION, description="offset of the next row")
        ] = None,
        limit: Limit = 100,
        format: Format = "json",
        header: Annotated[
            str | None,
            Query(
                max_length=128,
                pattern=r"^[A-Za-z0-9_-]+$",
                description="group by this request header (one of `record_headers`) instead",
            ),
        ] = None,
        who: Principal = require("reports:view"),
    ) -> Response:
        """Spend of settled requests (rejected ones cost nothing) per period and group."""
        if header and header.lower() in credential_headers(management(request).state.settings()):
            raise invalid([("header", f"{header!r} carries a credential; it is never reported")])
        clause, params = where({}, "admitted_at", start, end)
        column = "headers" if header else GROUP_COLUMN[group_by]
        rows = await management(request).query(
            f"SELECT admitted_at, {column}, cost, input_tokens, output_tokens "  # noqa: S608
            f"FROM gl_requests WHERE cost IS NOT NULL AND status <> 'rejected'{clause}",
            params,
        )
        if header:
            name = header.lower()
            values = [header_of(recorded, name) for _, recorded, *_ in rows]
            opened = await management(request).shown(values)  # sealed values opened or erased
            rows = [(at, value, *rest) for (at, _, *rest), value in zip(rows, opened, strict=True)]
        totals = spend(rows, granularity)
        offset = cursor or 0
        shown = totals[offset : offset + limit]
        next_cursor = str(offset + limit) if offset + limit < len(totals) else None
        return render(shown, COLUMNS, next_cursor, format)

    return api
