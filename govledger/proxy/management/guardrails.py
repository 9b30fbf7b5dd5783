"""/api/governance/guardrails: guardrail policies (checks, scope, actions, attachments)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.responses import Response

from govledger.ledger.config import IDENTIFIER, GuardrailSpec
from govledger.proxy.management import crud
from govledger.proxy.management.auth import Principal, management, require

KIND = "guardrail"


class GuardrailBody(GuardrailSpec):
    """A guardrail policy; on create without `id` one is made, on replace it is the path's."""

    id: str | None = Field(None, pattern=IDENTIFIER)  # type: ignore[assignment]


def _data(body: GuardrailBody, entity_id: str) -> dict[str, object]:
    return GuardrailSpec.model_validate({**body.model_dump(), "id": entity_id}).model_dump(
        mode="json"
    )


def router() -> APIRouter:
    """The guardrail policies' endpoints."""
    api = APIRouter(prefix="/api/governance/guardrails", tags=["guardrails"])

    @api.get("")
    async def list_guardrails(
        request: Request,
        limit: int = Query(50, ge=1, le=500),
        cursor: str | None = None,
        who: Principal = require("guardrails:view"),
    ) -> Response:
        """Every guardrail policy, a page at a time."""
        return crud.list_response(management(request), KIND, limit, cursor, lambda i, d: True)

    @api.post("", status_code=201)
    async def create_guardrail(
        request: Request, body: GuardrailBody, who: Principal = require("guardrails:create")
    ) -> Response:
        """Create a guardrail policy; it applies from the next request."""
        entity_id = body.id or crud.new_id(KIND)
        return await crud.create(management(request), who, KIND, entity_id, _data(body, entity_id))

    @api.get("/{guardrail_id}")
    async def show_guardrail(
        request: Request, guardrail_id: str, who: Principal = require("guardrails:view")
    ) -> Response:
        """One guardrail policy."""
        return crud.show(management(request), KIND, guardrail_id)

    @api.put("/{guardrail_id}")
    async def replace_guardrail(
        request: Request,
        guardrail_id: str,
        body: GuardrailBody,
        who: Principal = require("guardrails:update"),
    ) -> Response:
        """Replace a guardrail policy; If-Match refuses stale edits."""
        crud.check_path_id(body.id, guardrail_id)
        service = management(request)
        return await crud.replace(
            service,
            who,
            KIND,
            guardrail_id,
            crud.if_match(request),
            lambda: _data(body, guardrail_id),
        )

    @api.delete("/{guardrail_id}", status_code=204)
    async def delete_guardrail(
        request: Request, guardrail_id: str, who: Principal = require("guardrails:delete")
    ) -> Response:
        """Delete a guardrail policy."""
        return await crud.remove(
            management(request), who, KIND, guardrail_id, crud.if_match(request)
        )

    return api
