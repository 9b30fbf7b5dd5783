"""The management plane: the /api REST routers, their access control and error shape."""

from __future__ import annotations

from fastapi import FastAPI

from proxy.gateway import Gateway
from proxy.management import (
    audit,
    budgets,
    compliance,
    customers,
    providers,
    reports,
    roles,
    teams,
    tokens,
    virtual_keys,
)
from proxy.management.body_limit import BodyLimit
from proxy.management.errors import REFUSALS, install_handlers
from proxy.management.service import Management
from proxy.runtime import Runtime


def install(app: FastAPI, runtime: Runtime, gateway: Gateway) -> Management:
    """Mount every management router on the app and map its errors; returns the service."""
    service = Management(runtime, gateway)
    app.state.management = service
    for module in (
        customers,
        teams,
        virtual_keys,
        providers,
        budgets,
        audit,
        reports,
        compliance,
        tokens,
        roles,
    ):
        app.include_router(module.router(), responses=REFUSALS)
    install_handlers(app)
    app.add_middleware(BodyLimit, limit=runtime.settings.management_max_body_bytes)
    return service
