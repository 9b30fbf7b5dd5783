"""/api/config: the state exported as a config.json, and a file's plan before it is applied."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from govledger.ledger.config import ConfigFile, parse_config
from govledger.ledger.config_export import export_config
from govledger.ledger.credentials import generate_virtual_key
from govledger.ledger.money import json_default
from govledger.ledger.plan import Plan, describe, make_plan
from govledger.proxy.management.auth import Principal, deny, management, require
from govledger.proxy.management.errors import ApiError, JSONResponse
from govledger.proxy.management.service import Management

# Applying a file may create or update every kind it declares: the caller needs all of it.
APPLY_PERMISSIONS = tuple(
    f"{resource}:{operation}"
    for resource in ("customers", "teams", "virtual_keys", "providers", "guardrails")
    for operation in ("create", "update")
)


async def _config_of(request: Request) -> ConfigFile:
    try:
        raw = orjson.loads(await request.body())
    except orjson.JSONDecodeError as error:
        raise ApiError(
            422, "invalid_request", f"not JSON: {error}", [("(root)", "not JSON")]
        ) from None
    return parse_config(raw)  # ConfigError: 422 naming each path


def _plan(service: Management, config: ConfigFile) -> Plan:
    """The file's plan against the folded state (ConfigError: 422 naming the path)."""
    box = service.runtime.governance.box
    return make_plan(config, service.state, box, service.clock(), generate_virtual_key)


def _shown(plan: Plan) -> dict[str, Any]:
    return {"lines": describe(plan), "changes": len(plan.changes)}


def router() -> APIRouter:
    """The config-as-code endpoints."""
    api = APIRouter(prefix="/api/config", tags=["config"])

    @api.get("")
    async def export(request: Request, who: Principal = require("reports:view")) -> Response:
        """The live state as a config.json; `x-govledger-placeholders` lists the env.NAME
        values standing for encrypted provider keys (a file never carries a secret)."""
        config, placeholders = export_config(management(request).state)
        body = orjson.dumps(config, default=json_default, option=orjson.OPT_INDENT_2)
        headers = {
            "content-disposition": 'attachment; filename="config.json"',
            "x-govledger-placeholders": ",".join(placeholders),
        }
        return Response(body, media_type="application/json", headers=headers)

    @api.post("/plan")
    async def plan(request: Request, who: Principal = require("reports:view")) -> Response:
        """What applying the file would change (create/update/disable); appends nothing."""
        service = management(request)
        return JSONResponse(_shown(_plan(service, await _config_of(request))))

    @api.post("/apply")
    async def apply(request: Request, who: Principal = require("customers:update")) -> Response:
        """Append the file's plan in one atomic commit; new keys' values are shown once."""
        service = management(request)
        for permission in APPLY_PERMISSIONS:
            if permission not in who.permissions:
                await deny(service, who, permission, request)
        found = _plan(service, await _config_of(request))
        events = found.events(service.state, who.actor, who.source, service.clock())
        if events:
            await service.commit(events)
        return JSONResponse(
            {**_shown(found), "appended": len(events), "new_key_values": found.new_key_values}
        )

    return api
