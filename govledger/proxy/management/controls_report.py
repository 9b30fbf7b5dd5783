"""/api/reports/controls: evidence of the documented controls for a period (see
`compliance.controls`), tied to the ledger by the audit chain's head; not a certification."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from govledger.compliance.controls import (
    COLUMNS,
    DISCLAIMER,
    ChainHead,
    gather,
    period_bounds,
    report_rows,
)
from govledger.proxy.management.access_reports import governance_events
from govledger.proxy.management.auth import Principal, management, require
from govledger.proxy.management.compliance import refusal_of
from govledger.proxy.management.errors import JSONResponse, invalid
from govledger.proxy.management.exports import PRINTABLE, render, utc_text
from govledger.proxy.management.printable import page

Period = Annotated[
    str, Query(max_length=16, description="YYYY-Qn, YYYY-MM or YYYY, e.g. 2026-Q3 (UTC)")
]


def router() -> APIRouter:
    """The control evidence endpoint (mounted beside the other reports)."""
    api = APIRouter(prefix="/api/reports", tags=["reports"])

    @api.get("/controls", responses=PRINTABLE)
    async def controls_report(
        request: Request,
        period: Period,
        format: Literal["json", "csv", "jsonl", "html"] = "json",
        who: Principal = require("reports:view"),
    ) -> Response:
        """Per control of the mapping, each evidence query's count, exceptions and samples
        for the period, with the audit chain's head position and digest."""
        try:
            start, end = period_bounds(period)
        except ValueError as error:
            raise invalid([("period", str(error))]) from None
        service = management(request)
        events = await governance_events(service)
        rejected = await service.query(
            "SELECT reason, request_id FROM gl_requests WHERE status = 'rejected' "
            "AND admitted_at >= ? AND admitted_at < ? ORDER BY position",
            [utc_text(start), utc_text(end)],
        )
        found = await service.query(
            "SELECT position, digest FROM gl_audit_chain ORDER BY position DESC LIMIT 1"
        )
        head = ChainHead(int(found[0][0]), str(found[0][1])) if found else ChainHead(0, "")
        refused = [(refusal_of(reason)[0], request_id) for reason, request_id in rejected]
        rows = report_rows(gather(events, refused, start, end, head))
        if format == "json":
            return JSONResponse(
                {
                    "period": period,
                    "from": start.isoformat(),
                    "to": end.isoformat(),
                    "audit_chain": {"position": head.position, "digest": head.digest},
                    "disclaimer": DISCLAIMER,
                    "data": rows,
                }
            )
        if format == "html":
            notes = [
                DISCLAIMER,
                f"Period {period}: {start.isoformat()} to {end.isoformat()} (exclusive).",
                f"Audit chain head: position {head.position}, digest {head.digest or 'none'}.",
            ]
            return page(f"Control evidence {period}", notes, rows, COLUMNS)
        return render(rows, COLUMNS, None, format)

    return api
