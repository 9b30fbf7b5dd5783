"""The identity routes: /auth (sign-in sessions) and /api/sessions, mounted on the app."""

from __future__ import annotations

from fastapi import FastAPI

from govledger.proxy.identity import (
    oidc_routes,
    personal_keys,
    scim_routes,
    session_admin,
    session_routes,
    user_admin,
)
from govledger.proxy.management.errors import REFUSALS


def install(app: FastAPI) -> None:
    """Mount /auth, /api/sessions, /api/users, /api/me and /scim/v2 after the management API."""
    for module in (
        session_routes,
        oidc_routes,
        session_admin,
        user_admin,
        personal_keys,
        scim_routes,
    ):
        app.include_router(module.router(), responses=REFUSALS)
