"""The management plane: the /api REST routers, their access control and error shape."""

from __future__ import annotations

from fastapi import FastAPI

from govledger.proxy.flow.gateway import Gateway
from govledger.proxy.management import (
    access_reports,
    audit,
    budgets,
    chain,
    compliance,
    config_code,
    controls_report,
    customers,
    guardrails,
    providers,
    reports,
    roles,
    routes,
    teams,
    tokens,
    virtual_keys,
)
from govledger.proxy.management.body_limit import BodyLimit
from govledger.proxy.management.errors import REFUSALS, install_handlers
from govledger.proxy.management.service import Management
from govledger.proxy.server.runtime import Runtime


def install(app: FastAPI, runtime: Runtime, gateway: Gateway) -> Management:
    """Mount every management router on the app and map its errors; returns the service."""
    service = Management(runtime, gateway, clock=runtime.clock.now)  # the process clock
    app.state.management = service
    for module in (
        customers,
        teams,
        virtual_keys,
        providers,
        budgets,
        audit,
        chain,
        reports,
        compliance,
        access_reports,
        controls_report,
        tokens,
        roles,
        guardrails,
        routes,
        config_code,
    ):
        app.include_router(module.router(), responses=REFUSALS)
    install_handlers(app)
    app.add_middleware(BodyLimit, limit=runtime.settings.management_max_body_bytes)
    return service
