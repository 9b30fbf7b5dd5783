"""Sign-in use cases: a provider's verified claims become a user (synced, teams mapped), and
every refusal is a `LoginFailed` event naming the reason, never the credential."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from collections.abc import Mapping as Claims
from datetime import datetime
from typing import Any, Protocol

from starlette.requests import Request

from govledger.ledger import events as ev
from govledger.ledger.commands import Author
from govledger.ledger.entities import GovernanceState
from govledger.ledger.group_mapping import Mapping, MappingRefused, map_claims
from govledger.ledger.sso import IdentityProviderSpec, SsoSpec
from govledger.ledger.users import Profile, find_user, sync_user
from govledger.proxy.identity.failure_throttle import FailureThrottle
from govledger.proxy.identity.verifier import Providers

log = logging.getLogger("govledger.identity")


class Ledger(Protocol):
    """What sign-in needs of the management service: the state, its clock, an append."""

    @property
    def state(self) -> GovernanceState:
        """The folded governance state."""

    @property
    def clock(self) -> Callable[[], datetime]:
        """The injected clock."""

    async def commit(self, events: Sequence[ev.GovernanceEvent]) -> None:
        """Append atomically and fold."""


def sso_of(service: Ledger) -> SsoSpec:
    """The `sso` section of the gateway settings (empty when none is configured)."""
    raw = service.state.settings().get("sso")
    return SsoSpec.model_validate(raw) if raw else SsoSpec()


def providers(request: Request, service: Ledger) -> Providers:
    """The app's identity providers, brought up to the settings' `sso` section."""
    found: Providers | None = getattr(request.app.state, "identity_providers", None)
    if found is None:
        found = Providers()
        request.app.state.identity_providers = found
    found.update(tuple(sso_of(service).providers))
    return found


def throttle_of(request: Request) -> FailureThrottle:
    """The app's throttle of recorded sign-in refusals."""
    found: FailureThrottle | None = getattr(request.app.state, "failure_throttle", None)
    if found is None:
        found = FailureThrottle()
        request.app.state.failure_throttle = found
    return found


async def record_failure(request: Request, service: Ledger, method: str, reason: str) -> None:
    """Append a refused sign-in (the reason, never the credential); best effort, and at most
    `per_window` of one kind a minute (the next one counts those left out)."""
    path = request.url.path
    record, suppressed = throttle_of(request).admit((method, reason), time.monotonic())
    if not record:
        return
    failed = ev.LoginFailed(
        originator_id=uuid.uuid4(),
        originator_version=1,
        timestamp=service.clock(),
        actor="anonymous",
        source="api",
        method=method,
        reason=reason,
        path=path,
        suppressed=suppressed,
    )
    try:
        await service.commit([failed])
    except Exception as error:  # the refusal stands even if the ledger cannot record it now
        log.warning("could not record a failed sign-in (%s): %s", reason, str(error)[:200])


def profile_of(claims: Claims[str, Any], mapping: Mapping) -> Profile:
    """The user's profile as the claims state it."""
    email = claims.get("email") if isinstance(claims.get("email"), str) else ""
    user_name = claims.get("preferred_username") or email or claims["sub"]
    return Profile(
        personal={
            "user_name": str(user_name),
            "email": str(email or ""),
            "display_name": str(claims.get("name") or ""),
            "given_name": str(claims.get("given_name") or ""),
            "family_name": str(claims.get("family_name") or ""),
        },
        groups=mapping.groups,
        teams=mapping.teams,
        role=mapping.role,
    )


async def sync_signed_in(
    service: Ledger,
    provider: IdentityProviderSpec,
    claims: Claims[str, Any],
    source: str,
    extra: list[ev.EntityEvent] | None = None,
) -> tuple[str, Mapping]:
    """Map the claims, sync the user (and mapped teams) in one append, and return the user id
    and mapping; MappingRefused (also for an inactive user) when they get no access."""
    mapping = map_claims(service.state, provider, claims)
    sub = str(claims["sub"])
    user_id = find_user(service.state, sub, claims.get("oid")) or sub
    prior = service.state.get("user", user_id)
    if prior is not None and not prior["active"]:
        raise MappingRefused("user_inactive", "the user is deactivated")
    author = Author(f"user:{user_id}", source)
    events = sync_user(
        service.state,
        user_id,
        provider.name,
        profile_of(claims, mapping),
        author,
        service.clock(),
        mapping.creates,
    )
    if events or extra:  # a racing instance syncing the same user first: 409, nothing appended
        await service.commit([*events, *(extra or [])])
    return user_id, mapping
