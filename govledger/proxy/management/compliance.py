"""/api/reports/compliance: one period's governance changes (who, what, before and after),
spend by customer, team and key, and refused requests by reason, from the views.

Every row has a `section`: `change` (one per governance change or refused management
call, in log order), `spend` (one per customer, team and virtual key: `dimension` and
`group`), `refused` (one per refusal code, level and key, with a count). CSV has every
column (empty where a section has none); JSON Lines has one object per row.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from govledger.proxy.management.audit import EVENT_COLUMNS, From, To, where
from govledger.proxy.management.auth import Principal, management, require
from govledger.proxy.management.errors import invalid
from govledger.proxy.management.exports import EXPORTED, Format, render
from govledger.proxy.management.shapes import redacted

COLUMNS = [
    "section",
    "at",
    "actor",
    "source",
    "action",
    "resource_type",
    "resource_id",
    "version",
    "before",
    "after",
    "dimension",
    "group",
    "requests",
    "cost",
    "input_tokens",
    "output_tokens",
    "code",
    "level",
    "key_id",
    "count",
]
DIMENSIONS = {"customer": "customer_id", "team": "team_id", "virtual_key": "key_id"}
SPEND_COLUMNS = ["customer_id", "team_id", "key_id", "cost", "input_tokens", "output_tokens"]


def changes(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """gl_audit rows as `change` rows: secrets removed from before and after."""
    found = []
    for row in rows:
        item = dict(zip(EVENT_COLUMNS, row, strict=True))
        item.pop("position")
        denial = item["action"].startswith("access.")
        for side in ("before", "after"):
            value = item[side] and orjson.loads(item[side])
            public = redacted(item["resource_type"], item["resource_id"], value)
            item[side] = value if denial else public
        found.append({"section": "change", **item})
    return found


def spend(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Settled gl_requests rows as `spend` rows per customer, team and virtual key."""
    totals: dict[tuple[str, str | None], dict[str, Any]] = {}
    for row in rows:
        item = dict(zip(SPEND_COLUMNS, row, strict=True))
        for dimension, column in DIMENSIONS.items():
            total = totals.setdefault(
                (dimension, item[column]),
                {"requests": 0, "cost": Decimal(0), "input_tokens": 0, "output_tokens": 0},
            )
            total["requests"] += 1
            total["cost"] += Decimal(item["cost"])
            total["input_tokens"] += int(item["input_tokens"] or 0)
            total["output_tokens"] += int(item["output_tokens"] or 0)
    order = list(DIMENSIONS)
    return [
        {"section": "spend", "dimension": dimension, "group": group, **total}
        for (dimension, group), total in sorted(
            totals.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1] or "")
        )
    ]


def refusal_of(reason: str | None) -> tuple[str, str]:
    """(code, level) out of a rejected row's reason, `<code> (<level>): <message>`."""
    head = (reason or "").split(":", 1)[0]
    code, _, level = head.partition(" (")
    return code.strip(), level.rstrip(")").strip()


def refused(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Rejected gl_requests rows (key_id, reason) counted per code, level and key."""
    counts = Counter((*refusal_of(reason), key_id or "") for key_id, reason in rows)
    return [
        {"section": "refused", "code": code, "level": level, "key_id": key or None, "count": n}
        for (code, level, key), n in sorted(counts.items())
    ]


def router() -> APIRouter:
    """The compliance report's endpoint (mounted beside the other reports)."""
    api = APIRouter(prefix="/api/reports", tags=["reports"])

    @api.get("/compliance", responses=EXPORTED)
    async def compliance_report(
        request: Request,
        start: From = None,
        end: To = None,
        format: Format = "json",
        who: Principal = require("reports:view"),
    ) -> Response:
        """Changes with before and after, spend by customer, team and key, and refusals, for
        the half-open period [from, to) (all of it without bounds); not paged."""
        if start is not None and end is not None and _utc(start) >= _utc(end):
            raise invalid([("to", "must be after from")])
        service = management(request)
        clause, params = where({}, "at", start, end)
        audit = await service.query(
            f"SELECT {', '.join(EVENT_COLUMNS)} FROM gl_audit "  # noqa: S608
            f"WHERE position > ?{clause} ORDER BY position",
            [0, *params],
        )
        clause, params = where({}, "admitted_at", start, end)
        settled = await service.query(
            f"SELECT {', '.join(SPEND_COLUMNS)} FROM gl_requests "  # noqa: S608
            f"WHERE position > ? AND cost IS NOT NULL AND status <> 'rejected'{clause}",
            [-1, *params],
        )
        rejected = await service.query(
            "SELECT key_id, reason FROM gl_requests "  # noqa: S608
            f"WHERE position > ? AND status = 'rejected'{clause}",
            [-1, *params],
        )
        rows = changes(audit) + spend(settled) + refused(rejected)
        return render(rows, COLUMNS, None, format)

    return api


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
