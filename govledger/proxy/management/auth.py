"""Who is calling the management API, and whether their role grants the permission.

A management credential is an admin token (`Authorization: Bearer gl-admin-…`). A virtual
key never is (the quota endpoint authenticates keys itself). A refusal for a missing
permission is 403 naming it, and is appended to the ledger as AccessDenied.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from typing import Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from govledger.ledger import events as ev
from govledger.ledger.access import permissions_of
from govledger.ledger.credentials import VIRTUAL_KEY_PREFIX, hash_secret, hashes_match
from govledger.ledger.entities import GovernanceState
from govledger.proxy.management.errors import ApiError
from govledger.proxy.management.service import Management

log = logging.getLogger("govledger.management")
bearer = HTTPBearer(auto_error=False, description="An admin token: `Bearer gl-admin-…`")


@dataclass(frozen=True)
class Principal:
    """An authenticated admin token: its name, role and the permissions the role grants."""

    name: str
    role: str
    permissions: frozenset[str]
    source: str = "api"  # the channel: api, or cli / ui as the client names itself

    @property
    def actor(self) -> str:
        """How the ledger names this caller."""
        return f"token:{self.name}"


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
        who = principal_of(service.state, credentials.credentials if credentials else None)
        who = replace(who, source=channel_of(request))
        if permission not in who.permissions:
            await deny(service, who, permission, request)
        return who

    return Depends(check)
