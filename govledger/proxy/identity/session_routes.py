"""/auth/token, /auth/me, /auth/logout: sign in with an admin token, see who you are, sign out.

`POST /auth/token` takes an admin token (body `{"token": …}` or `Authorization: Bearer`) and
answers a session cookie, so the web UI can sign in without an identity provider.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from govledger.ledger.commands import Author
from govledger.ledger.credentials import hash_secret
from govledger.ledger.personal import ERASED
from govledger.ledger.sessions import Subject, end_session, start_session
from govledger.proxy.identity.cookies import clear_session_cookies, set_session_cookies
from govledger.proxy.identity.sign_in import record_failure
from govledger.proxy.management.auth import (
    Principal,
    channel_of,
    management,
    principal_for,
    principal_of,
    signer,
)
from govledger.proxy.management.errors import ApiError, JSONResponse
from govledger.proxy.management.service import Management

MAX_LOGIN_BODY = 4096


async def _token_from(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    raw = await request.body()
    if not raw:
        return None
    if len(raw) > MAX_LOGIN_BODY:
        raise ApiError(413, "body_too_large", f"a sign-in body is at most {MAX_LOGIN_BODY} bytes")
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(422, "invalid_request", "body: not JSON", [("body", "not JSON")]) from None
    if not isinstance(body, dict) or set(body) - {"token"}:
        raise ApiError(
            422, "invalid_request", 'body: only {"token": …}', [("body", "only `token`")]
        )
    token = body.get("token")
    if token is not None and not isinstance(token, str):
        raise ApiError(422, "invalid_request", "token: a string", [("token", "a string")])
    return token or None


def who_body(
    who: Principal,
    session: dict[str, Any] | None,
    csrf: str | None,
    display_name: str | None = None,
) -> dict[str, Any]:
    """The caller as /auth/me shows it."""
    body: dict[str, Any] = {
        "actor": who.actor,
        "kind": who.kind,
        "name": who.name,
        "display_name": display_name or None,
        "role": who.role,
        "permissions": sorted(who.permissions),
        "session": None,
    }
    if session is not None and who.session_id is not None:
        body["session"] = {
            "id": who.session_id,
            "method": session["method"],
            "started_at": session["started_at"],
            "expires_at": session["expires_at"],
            "csrf_token": csrf,
        }
    return body


def _display_name(service: Management, who: Principal) -> str | None:
    """A signed-in user's display name (from the provider's claims), none once erased."""
    user = service.state.get("user", who.name) if who.kind == "user" else None
    personal = user.get("personal") if isinstance(user, dict) else None
    name = personal.get("display_name") if isinstance(personal, dict) else None
    return name if isinstance(name, str) and name and name != ERASED else None


def router() -> APIRouter:
    """The session endpoints."""
    api = APIRouter(prefix="/auth", tags=["auth"])

    @api.post("/token")
    async def sign_in_with_admin_token(request: Request) -> Response:
        """Exchange an admin token for a session cookie (HttpOnly; the CSRF token in the body)."""
        service = management(request)
        token = await _token_from(request)
        try:
            who = principal_of(service.state, token)
        except ApiError as error:
            await record_failure(request, service, "admin_token", error.code)
            raise
        sign = signer(request)
        cookie, secret = sign.new_cookie()
        session_id = uuid.uuid4().hex
        subject = Subject("token", who.name, service.state.version("admin_token", who.name))
        now = service.clock()
        ttl = timedelta(seconds=service.runtime.settings.session_ttl_s)
        started = start_session(
            service.state,
            session_id,
            hash_secret(secret),
            subject,
            "admin_token",
            ttl,
            Author(subject.actor, channel_of(request)),
            now,
        )
        await service.commit([started])
        csrf = sign.csrf_token(session_id)
        data = service.state.get("session", session_id) or started.data
        signed_in = Principal(who.name, who.role, who.permissions, session_id=session_id)
        response = JSONResponse(who_body(signed_in, data, csrf))
        set_session_cookies(response, request, cookie, csrf, now + ttl)
        return response

    @api.get("/me")
    async def who_am_i(request: Request) -> Response:
        """The caller (session cookie or Bearer): actor, role, permissions, session."""
        service = management(request)
        who = await principal_for(request)
        session = service.state.get("session", who.session_id) if who.session_id else None
        csrf = signer(request).csrf_token(who.session_id) if who.session_id else None
        return JSONResponse(who_body(who, session, csrf, _display_name(service, who)))

    @api.post("/logout", status_code=204)
    async def sign_out(request: Request) -> Response:
        """End the caller's session (an event: every instance stops accepting it)."""
        service = management(request)
        response = Response(status_code=204)
        clear_session_cookies(response, request)
        try:
            who = await principal_for(request)
        except ApiError as error:
            if error.status == 401:  # an expired or ended session: the cookies go all the same
                return response
            raise
        if who.session_id is not None:
            ended = end_session(
                service.state,
                who.session_id,
                "logout",
                Author(who.actor, who.source),
                service.clock(),
            )
            await service.commit([ended])
        return response

    return api
