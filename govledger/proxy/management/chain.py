"""/api/audit/verify: `govledger audit verify` over HTTP (the governance log's hash chain)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request

from govledger.exporters.audit_chain import Verdict, create_tables, verify
from govledger.ledger.store import Store
from govledger.projections.database import ViewDatabase
from govledger.proxy.management.auth import Principal, management, require
from govledger.proxy.management.errors import ApiError


def walk(store: Store, url: str) -> Verdict:
    """Chain what is not chained yet, then recompute the chain from the stored log."""
    db = ViewDatabase(url)
    try:
        db.create()
        create_tables(db)
        return verify(store, db)
    finally:
        db.close()


def router() -> APIRouter:
    """The verify endpoint (mounted beside the audit trail)."""
    api = APIRouter(prefix="/api/audit", tags=["audit"])

    @api.get("/verify")
    async def verify_chain(request: Request, who: Principal = require("audit:view")) -> Any:
        """Walk the hash chain: intact or the first event whose stored form changed, and
        the chain's head hash."""
        runtime = management(request).runtime
        try:
            verdict = await asyncio.to_thread(walk, runtime.store, runtime.settings.database_url)
        except Exception as error:  # the store or views unreachable: say so, no traceback
            message = f"audit chain not verified: {type(error).__name__}"
            raise ApiError(503, "store_unavailable", message) from None
        return {
            "intact": verdict.intact,
            "checked": verdict.checked,
            "head": verdict.head,
            "broken_at": verdict.broken_at,
            "message": verdict.describe(),
        }

    return api
