"""/api/sessions: list the live sign-in sessions and revoke one (an event, on every instance).

Sessions are credentials, so they need the admin-token permissions (`admin_tokens:view`,
`admin_tokens:delete`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from govledger.ledger.sessions import KIND, end_session
from govledger.proxy.management import crud
from govledger.proxy.management.auth import Principal, management, require


def router() -> APIRouter:
    """The sessions' endpoints."""
    api = APIRouter(prefix="/api/sessions", tags=["sessions"])

    @api.get("")
    async def list_sessions(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: str | None = None,
        search: str | None = None,
        who: Principal = require("admin_tokens:view"),
    ) -> Response:
        """Live sessions by id: subject, method, start and expiry (never the cookie)."""
        return crud.list_response(
            management(request), KIND, limit, cursor, lambda i, d: crud.matches(search, i, d)
        )

    @api.get("/{session_id}")
    async def show_session(
        request: Request, session_id: str, who: Principal = require("admin_tokens:view")
    ) -> Response:
        """One live session."""
        return crud.show(management(request), KIND, session_id)

    @api.delete("/{session_id}", status_code=204)
    async def revoke_session(
        request: Request, session_id: str, who: Principal = require("admin_tokens:delete")
    ) -> Response:
        """End a session now: its cookie stops working on every instance."""
        service = management(request)
        ended = end_session(service.state, session_id, "revoked", crud.author(who), service.clock())
        await service.commit([ended])
        return Response(status_code=204)

    return api
