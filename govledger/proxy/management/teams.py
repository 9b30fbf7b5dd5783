"""/api/governance/teams: list, create, show, replace, delete (cascade to its keys)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.responses import Response

from govledger.ledger import commands
from govledger.ledger.config import IDENTIFIER, TeamSpec
from govledger.proxy.management import crud, schemas
from govledger.proxy.management.auth import Principal, management, require

KIND = "team"


class TeamBody(TeamSpec):
    """A team; `id` is generated when a create omits it."""

    id: str | None = Field(None, pattern=IDENTIFIER)  # type: ignore[assignment]


PAGE = schemas.page_of(schemas.Team)


def router() -> APIRouter:
    """The teams' endpoints."""
    api = APIRouter(prefix="/api/governance/teams", tags=["teams"])

    @api.get("", responses=schemas.ok(PAGE))
    async def list_teams(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: str | None = None,
        search: str | None = None,
        customer_id: str | None = None,
        who: Principal = require("teams:view"),
    ) -> Response:
        """Teams by id, a page at a time; `search` matches id or name."""

        def keep(entity_id: str, data: crud.Data) -> bool:
            owner_ok = customer_id is None or data["customer_id"] == customer_id
            return owner_ok and crud.matches(search, entity_id, data)

        return crud.list_response(management(request), KIND, limit, cursor, keep)

    @api.post("", status_code=201, responses=schemas.ok(schemas.Team, 201))
    async def create_team(
        request: Request, body: TeamBody, who: Principal = require("teams:create")
    ) -> Response:
        """Create a team; returns it with its id and version."""
        service = management(request)
        spec = TeamSpec.model_validate({**body.model_dump(), "id": body.id or crud.new_id(KIND)})
        data = commands.team_data(service.state, spec, service.clock())
        return await crud.create(service, who, KIND, spec.id, data)

    @api.get("/{team_id}", responses=schemas.ok(schemas.Team))
    async def show_team(
        request: Request, team_id: str, who: Principal = require("teams:view")
    ) -> Response:
        """One team."""
        return crud.show(management(request), KIND, team_id)

    @api.put("/{team_id}", responses=schemas.ok(schemas.Team))
    async def replace_team(
        request: Request,
        team_id: str,
        body: TeamBody,
        who: Principal = require("teams:update"),
    ) -> Response:
        """Replace a team's fields; `If-Match: "<version>"` refuses a stale edit (412)."""
        service = management(request)
        crud.check_path_id(body.id, team_id)
        spec = TeamSpec.model_validate({**body.model_dump(), "id": team_id})
        return await crud.replace(
            service,
            who,
            KIND,
            team_id,
            crud.if_match(request),
            lambda: commands.team_data(service.state, spec, service.clock()),
        )

    @api.delete("/{team_id}", status_code=204)
    async def delete_team(
        request: Request,
        team_id: str,
        cascade: bool = False,
        who: Principal = require("teams:delete"),
    ) -> Response:
        """Delete a team; 409 while it owns keys, unless `cascade=true`."""
        return await crud.remove(
            management(request), who, KIND, team_id, crud.if_match(request), cascade
        )

    return api
