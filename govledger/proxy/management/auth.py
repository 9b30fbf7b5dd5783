"""Who is calling the management API, and whether their role grants the permission.

A management credential is an admin token (`Authorization: Bearer gl-admin-…`) or a
sign-in session's cookie (`govledger_session`, with `x-csrf-token` on a state-changing
call). A virtual key never is (the quota endpoint authenticates keys itself). The seam is
`principal_for(request)`: every route that needs the caller asks it. A refusal for a
missing permission is 403 naming it, and is appended to the ledger as AccessDenied.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from govledger.ledger import events as ev
from govledger.ledger.access import permissions_of
from govledger.ledger.credentials import VIRTUAL_KEY_PREFIX, hash_secret, hashes_match
from govledger.ledger.entities import GovernanceState
from govledger.ledger.group_mapping import MappingRefused
from govledger.ledger.sessions import live_session, subject_is_current
from govledger.proxy.identity.cookies import (
    COOKIE_PURPOSE,
    CSRF_HEADER,
    SAFE_METHODS,
    SESSION_COOKIE,
    CookieSigner,
)
from govledger.proxy.identity.sign_in import providers, record_failure, sync_signed_in
from govledger.proxy.identity.verifier import TokenRefused, looks_like_jwt, unverified_issuer
from govledger.proxy.management.errors import ApiError
from govledger.proxy.management.service import Management

log = logging.getLogger("govledger.management")
bearer = HTTPBearer(auto_error=False, description="An admin token: `Bearer gl-admin-…`")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its name, role and the permissions the role grants."""

    name: str
    role: str
    permissions: frozenset[str]
    source: str = "api"  # the channel: api, or cli / ui as the client names itself
    kind: str = "token"  # token (an admin token) | user (a person from the identity provider)
    session_id: str | None = None  # the sign-in session the call came with, if any

    @property
    def actor(self) -> str:
        """How the ledger names this caller."""
        return f"{self.kind}:{self.name}"


def management(request: Request) -> Management:
    """The management service of the app serving the request."""
    service: Management = request.app.state.management
    return service


def principal_of(state: GovernanceState, token: str | None) -> Principal:
    """The admin token's principal, or 401."""
    if not token:
        raise ApiError(401, "admin_token_required", "an admin token is required (Bearer)")
    if token.startswith(VIRTUAL_KEY_PREFIX):
        raise ApiError(
            401, "virtual_key_not_accepted", "a virtual key is not a management credential"
        )
    digest = hash_secret(token)
    name = state.token_by_hash.get(digest, "")
    data = state.get("admin_token", name)
    if data is None or not hashes_match(data["token_hash"], digest):
        raise ApiError(401, "admin_token_not_recognised", "the admin token is not recognised")
    return Principal(name, data["role"], permissions_of(state, data["role"]))


def signer(request: Request) -> CookieSigner:
    """The session cookies' signer (its key derived from the master key once the store opened)."""
    found: CookieSigner | None = getattr(request.app.state, "cookie_signer", None)
    if found is None:
        found = CookieSigner(management(request).runtime.governance.box.derive(COOKIE_PURPOSE))
        request.app.state.cookie_signer = found
    return found


def session_principal(
    state: GovernanceState, signer: CookieSigner, cookie: str, now: datetime
) -> Principal:
    """The principal of a session cookie, or 401 (forged, expired, ended, subject gone)."""
    secret = signer.secret_of(cookie)
    found = None if secret is None else live_session(state, hash_secret(secret), now)
    if found is None:
        raise ApiError(401, "session_not_recognised", "the session is not recognised or expired")
    session_id, data = found
    if not subject_is_current(state, data):
        raise ApiError(401, "session_not_recognised", "the session's credential no longer exists")
    if data["subject_kind"] == "token":
        token = state.get("admin_token", data["subject"])
        role = token["role"] if token else ""
    else:
        user = state.get("user", data["subject"]) or {}
        if not user.get("active"):
            raise ApiError(401, "session_not_recognised", "the session's user is deactivated")
        role = user.get("role") or ""
    kind = data["subject_kind"]
    return Principal(
        data["subject"], role, permissions_of(state, role), kind=kind, session_id=session_id
    )


def refusal(error: TokenRefused | MappingRefused) -> ApiError:
    """A token problem is 401, a mapping that gives no access 403; both name the reason."""
    status = 403 if isinstance(error, MappingRefused) else 401
    return ApiError(status, error.reason, str(error))


async def idp_principal(request: Request, service: Management, token: str) -> Principal:
    """The user an identity provider's token names (verified, mapped, synced), or 401/403
    naming the reason; every refusal is appended as LoginFailed."""
    known = providers(request, service)
    provider = known.for_issuer(unverified_issuer(token))
    try:
        if provider is None:
            raise TokenRefused("wrong_issuer", "the token's issuer is not a configured provider")
        claims = await asyncio.to_thread(provider.verify, token)
        user_id, mapping = await sync_signed_in(service, provider.spec, claims, channel_of(request))
    except (TokenRefused, MappingRefused) as error:
        await record_failure(request, service, "bearer", error.reason)
        raise refusal(error) from None
    role = mapping.role
    return Principal(user_id, role, permissions_of(service.state, role), kind="user")


async def principal_for(request: Request) -> Principal:
    """The seam: the caller of this request (Bearer admin token or identity provider token,
    else session cookie), or 401; a state-changing call made with a cookie must carry the
    session's CSRF token (else 403)."""
    service = management(request)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if header and scheme.lower() == "bearer" and looks_like_jwt(token):
        who = await idp_principal(request, service, token)
    elif header and scheme.lower() == "bearer":
        who = principal_of(service.state, token or None)
    elif cookie := request.cookies.get(SESSION_COOKIE):
        sign = signer(request)
        who = session_principal(service.state, sign, cookie, service.clock())
        if request.method not in SAFE_METHODS and not sign.csrf_ok(
            who.session_id or "", request.headers.get(CSRF_HEADER)
        ):
            raise ApiError(
                403,
                "csrf_token_invalid",
                f"a call made with the session cookie must send its CSRF token in {CSRF_HEADER}",
            )
    else:
        raise ApiError(
            401, "admin_token_required", "an admin token (Bearer) or a session is required"
        )
    return replace(who, source=channel_of(request))


async def deny(service: Management, who: Principal, permission: str, request: Request) -> None:
    """Record a refused call in the ledger, then refuse it with 403 naming the permission."""
    event = ev.AccessDenied(
        originator_id=uuid.uuid4(),
        originator_version=1,
        timestamp=service.clock(),
        actor=who.actor,
        source=who.source,
        permission=permission,
        method=request.method,
        path=request.url.path,
    )
    try:
        await service.commit([event])
    except Exception as error:  # the refusal stands even if the ledger cannot record it now
        log.warning("could not record a denial of %s: %s", permission, str(error)[:200])
    raise ApiError(
        403,
        "permission_denied",
        f"role {who.role!r} of {who.actor} lacks the permission {permission}",
        permission=permission,
    )


CLIENT_HEADER = "x-govledger-client"
CHANNELS = ("cli", "ui")


def channel_of(request: Request) -> str:
    """The channel of a call: `cli` or `ui` when the client names itself so, else `api`."""
    named = request.headers.get(CLIENT_HEADER, "").lower()
    return named if named in CHANNELS else "api"


def require(permission: str) -> Any:
    """A dependency: the caller's principal, if its role grants `permission`."""

    async def check(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Security(bearer),
    ) -> Principal:
        service = management(request)
        who = await principal_for(request)
        if permission not in who.permissions:
            await deny(service, who, permission, request)
        return who

    return Depends(check)
