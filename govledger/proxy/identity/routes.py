"""The identity routes: /auth (sign-in sessions) and /api/sessions, mounted on the app."""

from __future__ import annotations

from fastapi import FastAPI

from govledger.proxy.identity import session_admin, session_routes
from govledger.proxy.management.errors import REFUSALS


def install(app: FastAPI) -> None:
    """Mount /auth and /api/sessions (after the management plane, which they build on)."""
    for module in (session_routes, session_admin):
        app.include_router(module.router(), responses=REFUSALS)
