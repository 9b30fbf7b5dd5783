"""/api/routes: adaptive routing's figures (each route's state and signals; a key's shares)."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from govledger.ledger import commands
from govledger.ledger.config import AdaptiveSpec
from govledger.ledger.entities import SETTINGS_ID
from govledger.ledger.route_params import health_params, weight_params
from govledger.proxy.enforcement.route_report import group_rows, key_shares, route_rows
from govledger.proxy.management import crud
from govledger.proxy.management.auth import Principal, management, require
from govledger.proxy.management.errors import ApiError, invalid


def parameters(settings: dict[str, Any]) -> dict[str, Any]:
    """The adaptive parameters in force, and those the settings set (the rest are defaults)."""
    return {
        "health": asdict(health_params(settings)),
        "weights": asdict(weight_params(settings, None)),
        "set": dict(settings.get("adaptive") or {}),
    }


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
        groups = group_rows(runtime.routing_groups(), health, fold.tick(now))
        body: dict[str, Any] = {
            "tick": fold.tick(now),
            "routes": route_rows(health, now),
            "groups": groups,
        }
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
                "weights": asdict(policy.weights),
            }
        return body

    @api.get("/routes/parameters")
    async def show_parameters(
        request: Request, who: Principal = require("reports:view")
    ) -> dict[str, Any]:
        """Adaptive routing's parameters in force (defaults in docs/routing.md)."""
        return parameters(management(request).state.settings())

    @api.put("/routes/parameters")
    async def set_parameters(
        request: Request, body: AdaptiveSpec, who: Principal = require("providers:update")
    ) -> dict[str, Any]:
        """Set the gateway-wide adaptive parameters (absent fields: defaults). A config file's
        `apply` sets them again to the file's own `adaptive`."""
        service = management(request)
        state = service.state
        held = state.get("settings", SETTINGS_ID)
        if held is not None:
            commands.current(state, "settings", SETTINGS_ID, crud.if_match(request))
        settings = {**state.settings(), "adaptive": body.model_dump(exclude_none=True)}
        action = "created" if held is None else "updated"
        event = commands.event(
            state, "settings", action, SETTINGS_ID, settings, crud.author(who), service.clock()
        )
        await service.commit([event])
        return parameters(service.state.settings())

    return api
