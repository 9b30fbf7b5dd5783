"""/api/roles: the built-in roles (read only) and custom roles of `resource:operation`s."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field
from starlette.responses import Response

from govledger.ledger.access import BUILTIN_ROLES, RoleSpec
from govledger.ledger.config import IDENTIFIER
from govledger.proxy.management import crud, schemas
from govledger.proxy.management.auth import Principal, management, require
from govledger.proxy.management.errors import ApiError, JSONResponse
from govledger.proxy.management.shapes import builtin_role, public

KIND = "role"


class RoleBody(RoleSpec):
    """A custom role; on replace, `name` comes from the path."""

    name: str | None = Field(None, pattern=IDENTIFIER)  # type: ignore[assignment]


def _not_builtin(name: str) -> None:
    if name in BUILTIN_ROLES:
        raise ApiError(409, "builtin_role", f"{name!r} is a built-in role and cannot change")


def role_data(name: str, body: RoleSpec) -> dict[str, Any]:
    """A custom role's event data (`rank` only when set, as older roles have none)."""
    data: dict[str, Any] = {"name": name, "permissions": body.permissions}
    if body.rank is not None:
        data["rank"] = body.rank
    return data


PAGE = schemas.page_of(schemas.Role)


def router() -> APIRouter:
    """The roles' endpoints."""
    api = APIRouter(prefix="/api/roles", tags=["roles"])

    @api.get("", responses=schemas.ok(PAGE))
    async def list_roles(request: Request, who: Principal = require("roles:view")) -> Response:
        """The built-in roles, then the custom ones, with their permissions."""
        state = management(request).state
        custom = [
            public(KIND, name, data, state.version(KIND, name))
            for name, data in sorted(state.live(KIND).items())
        ]
        return JSONResponse({"data": [builtin_role(n) for n in BUILTIN_ROLES] + custom})

    @api.post("", status_code=201, responses=schemas.ok(schemas.Role, 201))
    async def create_role(
        request: Request, body: RoleSpec, who: Principal = require("roles:create")
    ) -> Response:
        """Create a custom role."""
        data = role_data(body.name, body)
        return await crud.create(management(request), who, KIND, body.name, data)

    @api.get("/{name}", responses=schemas.ok(schemas.Role))
    async def show_role(
        request: Request, name: str, who: Principal = require("roles:view")
    ) -> Response:
        """One role, built-in or custom."""
        if name in BUILTIN_ROLES:
            return JSONResponse(builtin_role(name))
        return crud.show(management(request), KIND, name)

    @api.put("/{name}", responses=schemas.ok(schemas.Role))
    async def replace_role(
        request: Request, name: str, body: RoleBody, who: Principal = require("roles:update")
    ) -> Response:
        """Replace a custom role's permissions; If-Match refuses stale edits."""
        _not_builtin(name)
        crud.check_path_id(body.name, name, "name")
        data = role_data(name, body)
        service = management(request)
        return await crud.replace(service, who, KIND, name, crud.if_match(request), lambda: data)

    @api.delete("/{name}", status_code=204)
    async def delete_role(
        request: Request, name: str, who: Principal = require("roles:delete")
    ) -> Response:
        """Delete a custom role; 409 while a live token has it."""
        _not_builtin(name)
        return await crud.remove(management(request), who, KIND, name, crud.if_match(request))

    return api
