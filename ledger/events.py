"""The whole vocabulary of the ledger: one frozen dataclass per fact.

Governance events go to the governance application, usage events to the usage
application. Payloads are plain JSON values (str, int, bool, Decimal, lists and
dicts of them) and never carry a secret: virtual keys appear as a SHA-256 hash
and a display prefix, provider keys as references or ciphertext.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eventsourcing.domain import DomainEvent

JSON = dict[str, Any]


@dataclass(frozen=True)
class LedgerEvent(DomainEvent):
    """Base of every ledger event: a stream id, its version and the time it happened."""


# --- governance -------------------------------------------------------------------------


@dataclass(frozen=True)
class GovernanceEvent(LedgerEvent):
    """A change to governance, naming who made it and through which channel."""

    actor: str
    source: str  # api | cli | config | ui | system


@dataclass(frozen=True)
class EntityEvent(GovernanceEvent):
    """A change to one governance entity; `data` is its whole state after the change."""

    entity_id: str
    data: JSON


@dataclass(frozen=True)
class CustomerCreated(EntityEvent):
    """A customer was created with a name and budgets."""


@dataclass(frozen=True)
class CustomerUpdated(EntityEvent):
    """A customer's name or budgets changed."""


@dataclass(frozen=True)
class CustomerDeleted(EntityEvent):
    """A customer was deleted; `data` is its last state."""


@dataclass(frozen=True)
class TeamCreated(EntityEvent):
    """A team was created, optionally under a customer."""


@dataclass(frozen=True)
class TeamUpdated(EntityEvent):
    """A team's name, customer or budgets changed."""


@dataclass(frozen=True)
class TeamDeleted(EntityEvent):
    """A team was deleted; `data` is its last state."""


@dataclass(frozen=True)
class ProviderCreated(EntityEvent):
    """An upstream provider was configured with its keys (as references or ciphertext)."""


@dataclass(frozen=True)
class ProviderUpdated(EntityEvent):
    """A provider's type, base URL, keys or model list changed."""


@dataclass(frozen=True)
class ProviderDeleted(EntityEvent):
    """A provider was removed."""


@dataclass(frozen=True)
class VirtualKeyCreated(EntityEvent):
    """A virtual key was issued; `data` holds its hash and prefix, never its value."""


@dataclass(frozen=True)
class VirtualKeyUpdated(EntityEvent):
    """A virtual key's settings, status, budgets, limits or routes changed."""


@dataclass(frozen=True)
class VirtualKeyDeleted(EntityEvent):
    """A virtual key was deleted and can no longer authenticate."""


@dataclass(frozen=True)
class GatewaySettingsChanged(EntityEvent):
    """Gateway-wide settings changed: pricing overrides and unknown-price policy."""


# --- usage ------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageEvent(LedgerEvent):
    """A fact about one request; the stream id derives from the request id."""

    request_id: str


@dataclass(frozen=True)
class RequestAdmitted(UsageEvent):
    """A request passed every check and reserved an upper bound at every level.

    `reservations` lists {budget, period, amount} (USD upper bound per budget period);
    `rate` lists {limit, kind, amount, capacity, window_s} charged to each rate limit.
    """

    instance: str
    incarnation: str
    key_id: str
    team_id: str | None
    customer_id: str | None
    surface: str
    model: str
    provider: str | None
    reservations: list[JSON]
    rate: list[JSON]
    estimate: JSON
    headers: JSON


@dataclass(frozen=True)
class RequestSettled(UsageEvent):
    """A request finished; actual cost and tokens replace its reservation.

    `charges` lists {budget, period, amount} (actual USD per budget period);
    `rate` lists {limit, kind, amount} adjustments of token limits (actual - estimate).
    """

    instance: str
    incarnation: str
    status: str  # ok | upstream_error | client_disconnected | failed
    reason: str
    provider: str | None
    provider_key_id: str | None
    model: str
    tokens: JSON
    cost: Decimal
    price_source: str
    charges: list[JSON]
    rate: list[JSON]
    attempts: list[JSON]
    latency_ms: float


@dataclass(frozen=True)
class RequestAbandoned(UsageEvent):
    """A request admitted by a crashed process was closed, charged at its reservation."""

    instance: str
    incarnation: str
    reason: str
    charges: list[JSON]


@dataclass(frozen=True)
class RequestRejected(UsageEvent):
    """A request was refused before any reservation; `level` names where it failed."""

    key_id: str | None
    surface: str
    model: str
    code: str
    level: str
    message: str
    headers: JSON


GOVERNANCE_EVENTS: tuple[type[GovernanceEvent], ...] = (
    CustomerCreated,
    CustomerUpdated,
    CustomerDeleted,
    TeamCreated,
    TeamUpdated,
    TeamDeleted,
    ProviderCreated,
    ProviderUpdated,
    ProviderDeleted,
    VirtualKeyCreated,
    VirtualKeyUpdated,
    VirtualKeyDeleted,
    GatewaySettingsChanged,
)
USAGE_EVENTS: tuple[type[UsageEvent], ...] = (
    RequestAdmitted,
    RequestSettled,
    RequestAbandoned,
    RequestRejected,
)
ALL_EVENTS: tuple[type[LedgerEvent], ...] = GOVERNANCE_EVENTS + USAGE_EVENTS
