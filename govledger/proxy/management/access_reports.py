"""/api/reports/access: every subject's access at an instant (`at`), or the changes of
access in [from, to), folded from the governance events (see `compliance.access_review`).

Formats: json (`data`), csv, jsonl, and html (a printable page, every value escaped).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from govledger.compliance.access_review import (
    CHANGE_COLUMNS,
    REVIEW_COLUMNS,
    changes_between,
    review_at,
)
from govledger.ledger import events as ev
from govledger.proxy.management.audit import From, To
from govledger.proxy.management.auth import Principal, management, require
from govledger.proxy.management.errors import invalid
from govledger.proxy.management.exports import PRINTABLE, render
from govledger.proxy.management.printable import page
from govledger.proxy.management.service import Management

Printable = Literal["json", "csv", "jsonl", "html"]
At = Annotated[datetime | None, Query(description="the instant, ISO 8601 (default: now)")]
SUBJECTS_NOTE = (
    "Subjects: admin tokens, virtual keys, teams, custom roles, and users (idp names the "
    "identity provider, or scim for a SCIM identity); an erased user's name shows as erased."
)


def utc(value: datetime) -> datetime:
    """An instant in UTC; naive times are taken as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def governance_events(service: Management) -> list[ev.LedgerEvent]:
    """Every governance event in log order, personal fields opened or `erased` (read off the
    event loop)."""
    store = service.runtime.store
    ledger = service.runtime.governance

    def read() -> list[ev.LedgerEvent]:
        return [
            ledger.opened(e) if isinstance(e, ev.EntityEvent) else e
            for _, e in store.iterate("governance")
        ]

    return await asyncio.to_thread(read)


def router() -> APIRouter:
    """The access review's endpoint (mounted beside the other reports)."""
    api = APIRouter(prefix="/api/reports", tags=["reports"])

    @api.get("/access", responses=PRINTABLE)
    async def access_report(
        request: Request,
        at: At = None,
        start: From = None,
        end: To = None,
        format: Printable = "json",
        who: Principal = require("reports:view"),
    ) -> Response:
        """Every admin token (role, effective permissions), virtual key (team, customer,
        status, expiry), team and custom role as at `at`; or, with `from` and `to`, every
        grant, revocation, role change and reassignment in [from, to), with who and source."""
        service = management(request)
        if start is not None or end is not None:
            if at is not None:
                raise invalid([("at", "give either at, or from and to")])
            if start is None or end is None:
                raise invalid([("from" if start is None else "to", "from and to go together")])
            begin, until = utc(start), utc(end)
            if begin >= until:
                raise invalid([("to", "must be after from")])
            rows = changes_between(await governance_events(service), begin, until)
            columns, title = (
                CHANGE_COLUMNS,
                f"Access changes {begin.isoformat()} to {until.isoformat()}",
            )
        else:
            instant = utc(at) if at is not None else service.clock()
            review = review_at(await governance_events(service), instant)
            rows, columns = list(review.subjects), REVIEW_COLUMNS
            title = f"Access review at {review.at}"
        if format == "html":
            return page(title, [SUBJECTS_NOTE], rows, columns)
        return render(rows, columns, None, format)

    return api
