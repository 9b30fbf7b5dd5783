"""/api/governance/virtual-keys: keys, their one-time values, rotation, usage and quota."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.responses import Response

from govledger.ledger import commands
from govledger.ledger.config import IDENTIFIER, Spec, VirtualKeySpec
from govledger.ledger.credentials import generate_virtual_key
from govledger.proxy.flow.gateway import Call
from govledger.proxy.management import crud, schemas
from govledger.proxy.management.auth import Principal, management, require
from govledger.proxy.management.errors import ApiError, JSONResponse, invalid
from govledger.proxy.management.figures import key_figures
from govledger.proxy.surfaces.errors import GatewayError

KIND = "virtual_key"
MAX_GRACE_SECONDS = 30 * 86400


class VirtualKeyBody(VirtualKeySpec):
    """A virtual key; `id` is generated when a create omits it, and so is `value`."""

    id: str | None = Field(None, pattern=IDENTIFIER)  # type: ignore[assignment]


class RotateBody(Spec):
    """How long the old value stays valid after a rotation (0: revoked at once)."""

    grace_seconds: int = Field(0, ge=0, le=MAX_GRACE_SECONDS)


PAGE = schemas.page_of(schemas.VirtualKey)


def router() -> APIRouter:
    """The virtual keys' endpoints."""
    api = APIRouter(prefix="/api/governance/virtual-keys", tags=["virtual-keys"])

    @api.get("", responses=schemas.ok(PAGE))
    async def list_virtual_keys(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: str | None = None,
        search: str | None = None,
        team_id: str | None = None,
        customer_id: str | None = None,
        who: Principal = require("virtual_keys:view"),
    ) -> Response:
        """Virtual keys by id (prefixes only, never values); filter by owner or search."""

        def keep(entity_id: str, data: crud.Data) -> bool:
            return (
                (team_id is None or data["team_id"] == team_id)
                and (customer_id is None or data["customer_id"] == customer_id)
                and crud.matches(search, entity_id, data)
            )

        return crud.list_response(management(request), KIND, limit, cursor, keep)

    @api.get("/quota", tags=["self-service"], responses=schemas.ok(schemas.KeyFigures))
    async def own_quota(request: Request) -> Response:
        """The calling key's budgets and rate limits; the virtual key is the credential."""
        service = management(request)
        call = Call(surface="management", model="", body={}, stream=False, headers=request.headers)
        try:
            policy = service.gateway.authenticate(call)
        except GatewayError as error:
            raise ApiError(error.status, error.code, error.message) from None
        return JSONResponse(key_figures(policy, service.runtime.usage, service.clock()))

    @api.post("", status_code=201, responses=schemas.ok(schemas.VirtualKey, 201))
    async def create_virtual_key(
        request: Request, body: VirtualKeyBody, who: Principal = require("virtual_keys:create")
    ) -> Response:
        """Issue a key; the response carries its `value`, shown this once."""
        service = management(request)
        spec = VirtualKeySpec.model_validate(
            {**body.model_dump(), "id": body.id or crud.new_id(KIND)}
        )
        if spec.id == "quota":  # GET …/virtual-keys/quota is the self-service endpoint
            raise invalid([("id", "'quota' is reserved")])
        commands.check_absent(service.state, KIND, spec.id)
        generated = generate_virtual_key() if spec.value is None else None
        data = commands.virtual_key_data(service.state, spec, service.clock(), generated)
        shown = generated or (
            spec.value if spec.value and spec.value.startswith("sk-bf-") else None
        )
        return await crud.create(service, who, KIND, spec.id, data, {"value": shown})

    @api.get("/{key_id}", responses=schemas.ok(schemas.VirtualKey))
    async def show_virtual_key(
        request: Request, key_id: str, who: Principal = require("virtual_keys:view")
    ) -> Response:
        """One key (its prefix, never its value)."""
        return crud.show(management(request), KIND, key_id)

    @api.put("/{key_id}", responses=schemas.ok(schemas.VirtualKey))
    async def replace_virtual_key(
        request: Request,
        key_id: str,
        body: VirtualKeyBody,
        who: Principal = require("virtual_keys:update"),
    ) -> Response:
        """Replace a key's settings (not its value: rotate it); If-Match refuses stale edits."""
        service = management(request)
        crud.check_path_id(body.id, key_id)
        if body.value is not None:
            raise invalid([("value", "a key's value changes only by POST …/rotate")])
        spec = VirtualKeySpec.model_validate({**body.model_dump(), "id": key_id})
        return await crud.replace(
            service,
            who,
            KIND,
            key_id,
            crud.if_match(request),
            lambda: commands.virtual_key_data(service.state, spec, service.clock(), None),
        )

    @api.delete("/{key_id}", status_code=204)
    async def delete_virtual_key(
        request: Request, key_id: str, who: Principal = require("virtual_keys:delete")
    ) -> Response:
        """Delete a key: it stops authenticating at once."""
        return await crud.remove(management(request), who, KIND, key_id, crud.if_match(request))

    @api.post("/{key_id}/rotate", responses=schemas.ok(schemas.VirtualKey))
    async def rotate_virtual_key(
        request: Request,
        key_id: str,
        body: RotateBody | None = None,
        who: Principal = require("virtual_keys:update"),
    ) -> Response:
        """Give the key a new `value` (shown once); the old one works `grace_seconds` more."""
        service = management(request)
        value = generate_virtual_key()
        grace = body.grace_seconds if body else 0
        event = commands.rotate(
            service.state,
            key_id,
            value,
            grace,
            crud.author(who),
            service.clock(),
            crud.if_match(request),
        )
        await service.commit([event])
        return crud.entity_response(service, KIND, key_id, extra={"value": value})

    @api.get("/{key_id}/usage", responses=schemas.ok(schemas.KeyFigures))
    async def key_usage(
        request: Request, key_id: str, who: Principal = require("budgets:view")
    ) -> Response:
        """Each budget and rate limit that applies to the key, at every level, with figures."""
        service = management(request)
        commands.current(service.state, KIND, key_id, None)
        policy = service.runtime.policy(key_id)
        if policy is None:  # pragma: no cover - a live key always compiles
            raise ApiError(404, "not_found", f"no virtual key {key_id!r}")
        return JSONResponse(key_figures(policy, service.runtime.usage, service.clock()))

    return api
