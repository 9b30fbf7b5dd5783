"""/api/admin-tokens: issue (the token is shown once), list and revoke management tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from govledger.ledger import commands
from govledger.ledger.access import TokenSpec, permissions_of
from govledger.ledger.credentials import generate_admin_token
from govledger.proxy.management import crud, schemas
from govledger.proxy.management.auth import Principal, deny, management, require

KIND = "admin_token"


PAGE = schemas.page_of(schemas.AdminToken)


def router() -> APIRouter:
    """The admin tokens' endpoints."""
    api = APIRouter(prefix="/api/admin-tokens", tags=["admin-tokens"])

    @api.get("", responses=schemas.ok(PAGE))
    async def list_admin_tokens(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: str | None = None,
        search: str | None = None,
        who: Principal = require("admin_tokens:view"),
    ) -> Response:
        """Live tokens by name, with their role and prefix (never the token)."""
        return crud.list_response(
            management(request), KIND, limit, cursor, lambda i, d: crud.matches(search, i, d)
        )

    @api.post("", status_code=201, responses=schemas.ok(schemas.AdminToken, 201))
    async def issue_admin_token(
        request: Request, body: TokenSpec, who: Principal = require("admin_tokens:create")
    ) -> Response:
        """Issue a token with a role no stronger than the caller's; `token` is shown once."""
        service = management(request)
        wanted = permissions_of(service.state, body.role)
        missing = sorted(wanted - who.permissions)
        if missing:  # nobody hands out more than they hold
            await deny(service, who, missing[0], request)
        value = generate_admin_token(body.role)
        event = commands.issue_token(
            service.state, body.name, body.role, value, crud.author(who), service.clock()
        )
        await service.commit([event])
        return crud.entity_response(service, KIND, body.name, 201, {"token": value})

    @api.get("/{name}", responses=schemas.ok(schemas.AdminToken))
    async def show_admin_token(
        request: Request, name: str, who: Principal = require("admin_tokens:view")
    ) -> Response:
        """One live token (never the token itself)."""
        return crud.show(management(request), KIND, name)

    @api.delete("/{name}", status_code=204)
    async def revoke_admin_token(
        request: Request, name: str, who: Principal = require("admin_tokens:delete")
    ) -> Response:
        """Revoke a token: it stops authenticating at once."""
        return await crud.remove(management(request), who, KIND, name, crud.if_match(request))

    return api
