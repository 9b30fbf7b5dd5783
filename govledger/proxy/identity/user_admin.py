"""/api/users: the users the identity provider and SCIM made, and their own limits.

Users are governed with their teams: listing needs `teams:view`, setting a user's budgets
and rate limit (`PUT /api/users/{id}/limits`) needs `teams:update`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from govledger.ledger import normalise
from govledger.ledger.config import UserLimitsSpec
from govledger.ledger.users import KIND, set_limits
from govledger.proxy.management import crud
from govledger.proxy.management.auth import Principal, management, require


def router() -> APIRouter:
    """The users' endpoints."""
    api = APIRouter(prefix="/api/users", tags=["users"])

    @api.get("")
    async def list_users(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: str | None = None,
        search: str | None = None,
        who: Principal = require("teams:view"),
    ) -> Response:
        """Users by id: personal fields, groups, teams, role, active, limits."""
        return crud.list_response(
            management(request), KIND, limit, cursor, lambda i, d: crud.matches(search, i, d)
        )

    @api.get("/{user_id}")
    async def show_user(
        request: Request, user_id: str, who: Principal = require("teams:view")
    ) -> Response:
        """One user."""
        return crud.show(management(request), KIND, user_id)

    @api.put("/{user_id}/limits")
    async def set_user_limits(
        request: Request,
        user_id: str,
        body: UserLimitsSpec,
        who: Principal = require("teams:update"),
    ) -> Response:
        """Set the user's own budgets and rate limit (checked on every key they own)."""
        service = management(request)
        now = service.clock()
        prior = (service.state.get(KIND, user_id) or {}).get("budgets")
        budgets = normalise.budgets(body.budgets, prior, now)
        event = set_limits(
            service.state,
            user_id,
            budgets,
            normalise.rate_limit(body.rate_limit),
            crud.author(who),
            now,
        )
        await service.commit([event])
        return crud.entity_response(service, KIND, user_id)

    return api
