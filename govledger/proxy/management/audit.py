"""/api/audit/events (governance changes and denials) and /api/audit/requests (request log).

Both read the materialized views, which a separate process keeps current: a change is
visible here a moment after it is committed, not at once.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from govledger.ledger.money import plain
from govledger.projections.usage_view import LISTED_REQUEST_COLUMNS, REQUEST_COLUMNS
from govledger.proxy.management.auth import Principal, management, require
from govledger.proxy.management.errors import ApiError, invalid
from govledger.proxy.management.exports import EXPORTED, Format, render, utc_text
from govledger.proxy.management.shapes import redacted

LISTED = ", ".join(LISTED_REQUEST_COLUMNS)
Limit = Annotated[int, Query(ge=1, le=1000)]
From = Annotated[datetime | None, Query(alias="from", description="inclusive, ISO 8601")]
To = Annotated[datetime | None, Query(alias="to", description="exclusive, ISO 8601")]
MAX_POSITION = 2**63 - 1  # a BIGINT
Cursor = Annotated[
    int | None,
    Query(ge=0, le=MAX_POSITION, description="`next_cursor` of the previous page"),
]
EVENT_COLUMNS = [
    "position",
    "at",
    "actor",
    "source",
    "action",
    "resource_type",
    "resource_id",
    "version",
    "before",
    "after",
]


def where(
    equal: dict[str, Any], time_column: str, start: datetime | None, end: datetime | None
) -> tuple[str, list[Any]]:
    """A WHERE clause (after `position > ?`) of equalities and a half-open time range."""
    clauses, params = [], []
    for column, value in equal.items():
        if isinstance(value, str) and "\x00" in value:  # no store takes NUL in text
            raise invalid([(column, "must not contain a NUL character")])
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if start is not None:
        clauses.append(f"{time_column} >= ?")
        params.append(utc_text(start))
    if end is not None:
        clauses.append(f"{time_column} < ?")
        params.append(utc_text(end))
    return "".join(f" AND {c}" for c in clauses), params


def _page(rows: list[dict[str, Any]], limit: int) -> tuple[list[dict[str, Any]], str | None]:
    shown = rows[:limit]
    return shown, (str(shown[-1]["position"]) if len(rows) > limit else None)


def router() -> APIRouter:
    """The audit endpoints."""
    api = APIRouter(prefix="/api/audit", tags=["audit"])

    @api.get("/events", responses=EXPORTED)
    async def audit_events(
        request: Request,
        actor: str | None = None,
        action: str | None = None,
        resource_type: str | None = None,
        resource_id: str | None = None,
        source: str | None = None,
        start: From = None,
        end: To = None,
        cursor: Cursor = None,
        limit: Limit = 100,
        format: Format = "json",
        who: Principal = require("audit:view"),
    ) -> Response:
        """Governance changes (before and after, secrets removed) and refused calls."""
        filters = {
            "actor": actor,
            "action": action,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "source": source,
        }
        clause, params = where(filters, "at", start, end)
        rows = await management(request).query(
            f"SELECT {', '.join(EVENT_COLUMNS)} FROM gl_audit WHERE position > ?{clause} "  # noqa: S608
            "ORDER BY position LIMIT ?",
            [cursor or 0, *params, limit + 1],
        )
        found = []
        for row in rows:
            item = dict(zip(EVENT_COLUMNS, row, strict=True))
            denial = item["action"].startswith("access.")
            for side in ("before", "after"):
                value = item[side] and orjson.loads(item[side])
                public_value = redacted(item["resource_type"], item["resource_id"], value)
                item[side] = value if denial else public_value
            found.append(item)
        shown, next_cursor = _page(found, limit)
        return render(shown, EVENT_COLUMNS, next_cursor, format)

    @api.get("/requests", responses=EXPORTED)
    async def audit_requests(
        request: Request,
        virtual_key_id: str | None = None,
        team_id: str | None = None,
        customer_id: str | None = None,
        user_id: str | None = None,
        model: str | None = None,
        provider: str | None = None,
        status: str | None = None,
        start: From = None,
        end: To = None,
        cursor: Cursor = None,
        limit: Limit = 100,
        format: Format = "json",
        who: Principal = require("audit:view"),
    ) -> Response:
        """The request log: key, model, provider, tokens, cost, outcome and reason."""
        filters = {
            "key_id": virtual_key_id,
            "team_id": team_id,
            "customer_id": customer_id,
            "user_id": user_id,
            "model": model,
            "provider": provider,
            "status": status,
        }
        clause, params = where(filters, "admitted_at", start, end)
        rows = await management(request).query(
            f"SELECT {LISTED} FROM gl_requests WHERE position > ?{clause} "  # noqa: S608
            "ORDER BY position LIMIT ?",
            [cursor or 0, *params, limit + 1],
        )
        found = [dict(zip(LISTED_REQUEST_COLUMNS, r, strict=True)) for r in rows]
        for item in found:  # rows written before costs were plain text may read `4E-8`
            if item["cost"] is not None:
                item["cost"] = plain(Decimal(item["cost"]))
        shown, next_cursor = _page(found, limit)
        return render(shown, LISTED_REQUEST_COLUMNS, next_cursor, format)

    @api.get("/requests/{request_id}")
    async def audit_request(
        request: Request, request_id: str, who: Principal = require("audit:view")
    ) -> dict[str, Any]:
        """One request's full record: attempts, tokens by kind, cost, reservations, rate."""
        where({"request_id": request_id}, "admitted_at", None, None)  # refuses a NUL
        rows = await management(request).query(
            f"SELECT {', '.join(REQUEST_COLUMNS)} FROM gl_requests "  # noqa: S608
            "WHERE request_id = ? ORDER BY position DESC LIMIT 1",
            [request_id],
        )
        if not rows:
            raise ApiError(404, "not_found", f"request {request_id!r} is not in the log")
        item = dict(zip(REQUEST_COLUMNS, rows[0], strict=True))
        for column in ("reservations", "rate", "attempts", "headers"):
            if isinstance(item[column], str):
                item[column] = orjson.loads(item[column])
        if item["cost"] is not None:
            item["cost"] = plain(Decimal(item["cost"]))
        return item

    return api
