"""/api/routes: adaptive routing's figures (each route's state and signals; a key's shares)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from govledger.proxy.enforcement.route_report import key_shares, route_rows
from govledger.proxy.management.auth import Principal, management, require
from govledger.proxy.management.errors import ApiError, invalid


def router() -> APIRouter:
    """The routes endpoint."""
    api = APIRouter(prefix="/api", tags=["routes"])

    @api.get("/routes")
    async def routes(
        request: Request,
        virtual_key: Annotated[str | None, Query(description="a key id: its shares")] = None,
        model: Annotated[str | None, Query(description="the model of those shares")] = None,
        who: Principal = require("reports:view"),
    ) -> dict[str, Any]:
        """Every route with evidence in the health horizon: state, signals and the factor of
        its configured weight; with `virtual_key` and `model`, that key's effective shares."""
        runtime = management(request).runtime
        fold = runtime.usage.routes
        now = time.time()
        health = fold.health(now)
        body: dict[str, Any] = {"tick": fold.tick(now), "routes": route_rows(health, now)}
        if (virtual_key is None) != (model is None):
            raise invalid([("virtual_key" if model else "model", "give virtual_key and model")])
        if virtual_key is not None and model is not None:
            policy = runtime.policy(virtual_key)
            if policy is None:
                raise ApiError(404, "not_found", f"virtual key {virtual_key!r} does not exist")
            body["virtual_key"] = {
                "id": virtual_key,
                "routing": policy.routing,
                "model": model,
                "shares": key_shares(policy, model, health, now),
            }
        return body

    return api
