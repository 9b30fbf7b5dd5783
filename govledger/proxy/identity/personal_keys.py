"""/api/me/keys: a signed-in user lists, creates, rotates and revokes their own keys, within
the rules of their team (`personal_keys` on the team), without a management role."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from pydantic import Field
from starlette.responses import Response

from govledger.ledger import commands
from govledger.ledger.config import Spec
from govledger.ledger.credentials import generate_virtual_key
from govledger.ledger.personal_keys import PersonalKeyRequest, keys_of, personal_key_spec
from govledger.proxy.management import crud
from govledger.proxy.management.auth import Principal, management, principal_for
from govledger.proxy.management.errors import ApiError, JSONResponse

KIND = "virtual_key"


class Rotation(Spec):
    """How long the old value keeps working."""

    grace_seconds: int = Field(default=0, ge=0, le=86400)


async def _me(request: Request) -> Principal:
    who = await principal_for(request)
    if who.kind != "user":
        raise ApiError(403, "user_required", "personal keys belong to a signed-in user")
    return who


def _own(request: Request, who: Principal, key_id: str) -> None:
    data = management(request).state.get(KIND, key_id)
    if data is None or data.get("user_id") != who.name:
        raise ApiError(404, "not_found", f"you have no key {key_id!r}")


def router() -> APIRouter:
    """The personal keys' endpoints."""
    api = APIRouter(prefix="/api/me/keys", tags=["me"])

    @api.get("")
    async def list_my_keys(request: Request) -> Response:
        """Your live keys (prefixes, never values)."""
        who = await _me(request)
        service = management(request)
        ids = keys_of(service.state, who.name)
        data = [crud.shown(service, KIND, k, service.state.get(KIND, k), 0) for k in ids]
        return JSONResponse({"data": data, "next_cursor": None})

    @api.post("", status_code=201)
    async def create_my_key(request: Request, body: PersonalKeyRequest) -> Response:
        """A key of your own; its `value` is shown once."""
        who = await _me(request)
        service = management(request)
        key_id = f"pk-{uuid.uuid4().hex[:12]}"
        spec = personal_key_spec(service.state, who.name, key_id, body, service.clock())
        value = generate_virtual_key()
        data = commands.virtual_key_data(service.state, spec, service.clock(), value)
        return await crud.create(service, who, KIND, key_id, data, {"value": value})

    @api.post("/{key_id}/rotate")
    async def rotate_my_key(request: Request, key_id: str, body: Rotation) -> Response:
        """A new value for your key, shown once."""
        who = await _me(request)
        _own(request, who, key_id)
        service = management(request)
        value = generate_virtual_key()
        event = commands.rotate(
            service.state, key_id, value, body.grace_seconds, crud.author(who), service.clock()
        )
        await service.commit([event])
        return crud.entity_response(service, KIND, key_id, 200, {"value": value})

    @api.delete("/{key_id}", status_code=204)
    async def revoke_my_key(request: Request, key_id: str) -> Response:
        """Revoke your key: it stops at once."""
        who = await _me(request)
        _own(request, who, key_id)
        return await crud.remove(management(request), who, KIND, key_id, None)

    return api
