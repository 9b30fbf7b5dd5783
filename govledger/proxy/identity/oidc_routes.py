"""/auth/login and /auth/callback: OpenID Connect authorization code flow with PKCE.

The login's `state`, `nonce` and PKCE verifier travel in a short-lived cookie sealed with the
master key (AES-GCM), so the callback may land on any instance. The session id derives from
the `state`, so a state is used once: a replay finds its session stream taken (400).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from govledger.ledger.commands import Author
from govledger.ledger.credentials import CredentialError, hash_secret, resolve_reference
from govledger.ledger.governance import ConcurrentChangeError
from govledger.ledger.group_mapping import MappingRefused
from govledger.ledger.sessions import KIND, Subject, start_session
from govledger.ledger.users import find_user
from govledger.proxy.identity.cookies import set_session_cookies
from govledger.proxy.identity.sign_in import providers, record_failure, sync_signed_in
from govledger.proxy.identity.verifier import Provider, TokenRefused
from govledger.proxy.management.auth import management, refusal, signer
from govledger.proxy.management.errors import ApiError, JSONResponse
from govledger.proxy.management.service import Management

LOGIN_COOKIE = "govledger_login"
LOGIN_TTL = timedelta(minutes=10)
EXCHANGE_TIMEOUT_S = 10.0


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def session_id_of(state: str) -> str:
    """The id of the session a login's `state` may open (once)."""
    return hashlib.sha256(f"oidc-state:{state}".encode()).hexdigest()[:32]


def safe_next(value: str | None) -> str:
    """Where to go after sign-in: a path on this gateway only (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/auth/me"
    return value


def _provider(request: Request, service: Management, name: str | None) -> Provider:
    known = providers(request, service).by_name
    if name is None and len(known) == 1:
        return next(iter(known.values()))
    if name is None or name not in known:
        raise ApiError(404, "provider_not_found", f"no identity provider {name!r} is configured")
    return known[name]


def _exchange(provider: Provider, code: str, verifier: str, redirect_uri: str) -> str:
    """The ID token for an authorization code (blocking: run it off the loop)."""
    spec = provider.spec
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": spec.client_id,
        "code_verifier": verifier,
    }
    if spec.client_secret:
        try:
            form["client_secret"] = resolve_reference(spec.client_secret)
        except CredentialError as error:
            raise TokenRefused("client_secret_unresolved", str(error)) from None
    try:
        answer = httpx.post(
            provider.discover()["token_endpoint"], data=form, timeout=EXCHANGE_TIMEOUT_S
        )
        body = answer.json()
    except (httpx.HTTPError, ValueError, KeyError) as error:
        raise TokenRefused("provider_unreachable", f"the code exchange failed: {error}") from None
    if answer.status_code != 200 or not isinstance(body, dict) or "id_token" not in body:
        code_ = body.get("error", "no id_token") if isinstance(body, dict) else "bad answer"
        raise TokenRefused("code_exchange_refused", f"the provider refused the code: {code_}")
    return str(body["id_token"])


def router() -> APIRouter:
    """The OpenID Connect endpoints."""
    api = APIRouter(prefix="/auth", tags=["auth"])

    @api.get("/providers")
    async def identity_providers(request: Request) -> Response:
        """The configured providers (no secret): what `govledger login` signs in with."""
        known = providers(request, management(request)).by_name.values()
        return JSONResponse(
            {
                "data": [
                    {
                        "name": p.spec.name,
                        "issuer": p.spec.issuer,
                        "client_id": p.spec.client_id,
                        "scopes": p.spec.scopes,
                    }
                    for p in known
                ]
            }
        )

    @api.get("/login")
    async def sign_in_with_provider(
        request: Request, provider: str | None = None, next: str | None = None
    ) -> Response:
        """Redirect to the provider's authorization endpoint (code flow, PKCE S256)."""
        service = management(request)
        chosen = _provider(request, service, provider)
        try:
            metadata = await asyncio.to_thread(chosen.discover)
        except TokenRefused as error:
            raise ApiError(503, error.reason, str(error)) from None
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        redirect_uri = str(request.url_for("oidc_callback"))
        query = {
            "response_type": "code",
            "client_id": chosen.spec.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(chosen.spec.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": _b64(hashlib.sha256(verifier.encode()).digest()),
            "code_challenge_method": "S256",
        }
        sealed = service.runtime.governance.box.encrypt(
            json.dumps(
                {
                    "state": state,
                    "nonce": nonce,
                    "verifier": verifier,
                    "provider": chosen.spec.name,
                    "next": safe_next(next),
                    "redirect_uri": redirect_uri,
                    "at": service.clock().isoformat(),
                }
            )
        )
        response = RedirectResponse(
            f"{metadata['authorization_endpoint']}?{urlencode(query)}", status_code=302
        )
        response.set_cookie(
            LOGIN_COOKIE,
            sealed,
            max_age=int(LOGIN_TTL.total_seconds()),
            path="/auth",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="lax",
        )
        return response

    @api.get("/callback", name="oidc_callback")
    async def finish_sign_in(request: Request) -> Response:
        """Check state, exchange the code, verify the ID token, sync the user, open a session."""
        service = management(request)
        try:
            login = _login_of(request, service)
            return await _finish(request, service, login)
        except (TokenRefused, MappingRefused) as error:
            await record_failure(request, service, "oidc", error.reason)
            raise refusal(error) from None
        except ApiError as error:
            await record_failure(request, service, "oidc", error.code)
            raise

    return api


def _login_of(request: Request, service: Management) -> dict[str, Any]:
    sealed = request.cookies.get(LOGIN_COOKIE)
    if not sealed:
        raise ApiError(400, "login_state_missing", "no login in progress (start at /auth/login)")
    try:
        login: dict[str, Any] = json.loads(service.runtime.governance.box.decrypt(sealed))
    except (CredentialError, ValueError):
        raise ApiError(400, "login_state_missing", "the login cookie is not ours") from None
    sent = request.query_params.get("state")
    if not sent or not secrets.compare_digest(sent, str(login.get("state", ""))):
        raise ApiError(400, "state_mismatch", "the state is not this login's")
    if service.state.version(KIND, session_id_of(sent)) > 0:
        raise ApiError(400, "state_replayed", "this login's state was already used")
    if service.clock() - datetime.fromisoformat(login["at"]) > LOGIN_TTL:
        raise ApiError(400, "login_expired", "the login took too long; start again")
    if request.query_params.get("error"):
        raise ApiError(
            401, "provider_refused", f"the provider answered {request.query_params['error']}"
        )
    if not request.query_params.get("code"):
        raise ApiError(400, "code_missing", "the callback carries no code")
    return login


async def _finish(request: Request, service: Management, login: dict[str, Any]) -> Response:
    provider = _provider(request, service, login["provider"])
    code = request.query_params["code"]
    token = await asyncio.to_thread(
        _exchange, provider, code, login["verifier"], login["redirect_uri"]
    )
    claims = await asyncio.to_thread(provider.verify, token, login["nonce"])
    sign = signer(request)
    cookie, secret = sign.new_cookie()
    session_id = session_id_of(login["state"])
    now = service.clock()
    ttl = timedelta(seconds=service.runtime.settings.session_ttl_s)
    user_id = find_user(service.state, str(claims["sub"]), claims.get("oid")) or str(claims["sub"])
    subject = Subject("user", user_id, 0)
    started = start_session(
        service.state,
        session_id,
        hash_secret(secret),
        subject,
        "oidc",
        ttl,
        Author(subject.actor, "sso"),
        now,
        {"idp": provider.spec.name},
    )
    try:
        await sync_signed_in(service, provider.spec, claims, "sso", [started])
    except ConcurrentChangeError:
        raise ApiError(400, "state_replayed", "this login's state was already used") from None
    response = RedirectResponse(login["next"], status_code=303)
    set_session_cookies(response, request, cookie, sign.csrf_token(session_id), now + ttl)
    response.delete_cookie(LOGIN_COOKIE, path="/auth")
    return response
