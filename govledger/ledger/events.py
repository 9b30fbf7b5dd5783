"""The whole vocabulary of the ledger: one frozen dataclass per fact.

Governance events go to the governance application, usage events to the usage
application. Payloads are plain JSON values (str, int, bool, Decimal, lists and
dicts of them) and never carry a secret: virtual keys appear as a SHA-256 hash
and a display prefix, provider keys as references or ciphertext.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from eventsourcing.domain import DomainEvent
from eventsourcing.utils import register_topic

JSON = dict[str, Any]


@dataclass(frozen=True)
class LedgerEvent(DomainEvent):
    """Base of every ledger event: a stream id, its version and the time it happened."""


# --- governance -------------------------------------------------------------------------


@dataclass(frozen=True)
class GovernanceEvent(LedgerEvent):
    """A change to governance, naming who made it and through which channel."""

    actor: str  # who made the change: a user, an admin token or `system`
    source: str  # api | cli | config | ui | system


@dataclass(frozen=True)
class EntityEvent(GovernanceEvent):
    """A change to one governance entity; `data` is its whole state after the change."""

    entity_id: str  # the entity's id in its kind (a provider's name for providers)
    data: JSON  # the entity's whole state after the change
    managed_by: str = (
        ""  # config (a file declares it) | api | cli | ui | system; "" in older events
    )


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


@dataclass(frozen=True)
class VirtualKeyRotated(EntityEvent):
    """A virtual key got a new value; `data.retired` lists old hashes valid until a time."""


@dataclass(frozen=True)
class AdminTokenIssued(EntityEvent):
    """A management token was issued with a role; `data` holds its hash, never its value."""


@dataclass(frozen=True)
class AdminTokenRevoked(EntityEvent):
    """A management token was revoked and can no longer authenticate."""


@dataclass(frozen=True)
class RoleCreated(EntityEvent):
    """A custom role was created with its `resource:operation` permissions."""


@dataclass(frozen=True)
class RoleUpdated(EntityEvent):
    """A custom role's permissions changed."""


@dataclass(frozen=True)
class RoleDeleted(EntityEvent):
    """A custom role was deleted."""


@dataclass(frozen=True)
class GuardrailCreated(EntityEvent):
    """A guardrail policy was created with its checks, scope, actions and attachments."""


@dataclass(frozen=True)
class GuardrailUpdated(EntityEvent):
    """A guardrail policy's checks, scope, actions, attachments or settings changed."""


@dataclass(frozen=True)
class GuardrailDeleted(EntityEvent):
    """A guardrail policy was deleted and no longer runs."""


@dataclass(frozen=True)
class UserCreated(EntityEvent):
    """A person became known (sign-in, SCIM, API); `data.personal` holds all personal fields."""


@dataclass(frozen=True)
class UserUpdated(EntityEvent):
    """A user's personal fields, groups, role or active flag changed."""


@dataclass(frozen=True)
class UserDeleted(EntityEvent):
    """A user was deleted (SCIM DELETE); their sessions end and their personal keys stop."""


@dataclass(frozen=True)
class UserJoinedTeam(EntityEvent):
    """A user became a member of a team (team sync or API); `data.teams` lists all of them."""

    team_id: str = ""  # the team joined


@dataclass(frozen=True)
class UserLeftTeam(EntityEvent):
    """A user stopped being a member of a team; `data.teams` lists those that remain."""

    team_id: str = ""  # the team left


@dataclass(frozen=True)
class SessionStarted(EntityEvent):
    """A sign-in opened a session (its cookie's SHA-256 hash, its subject and its expiry)."""


@dataclass(frozen=True)
class SessionEnded(EntityEvent):
    """A session ended before its expiry (logout, revocation, deprovisioning); `data.ended`."""


@dataclass(frozen=True)
class LoginFailed(GovernanceEvent):
    """A sign-in or an identity token was refused; the reason, never the credential."""

    method: str  # admin_token | oidc | bearer | scim: how the caller tried to sign in
    reason: str  # e.g. admin_token_not_recognised, token_expired, state_replayed
    path: str  # the path of the refused call
    suppressed: int = 0  # refusals of this method and reason not recorded since the last one


@dataclass(frozen=True)
class AccessDenied(GovernanceEvent):
    """A management call was refused for lack of a permission; one stream per denial."""

    permission: str  # the `resource:operation` the caller lacked
    method: str  # the HTTP method of the refused call
    path: str  # the path of the refused call


@dataclass(frozen=True)
class AlertDeliveryAttempted(GovernanceEvent):
    """An alert was sent, or tried, to a channel; one stream per alert, a version per try."""

    alert_id: str  # the alert's stable id, also its webhook-id (rule, subject, period, level)
    rule: str  # e.g. budget_threshold
    subject: str  # what the alert is about (a budget id)
    detail: JSON  # the alert's payload as sent
    channel: str  # the channel's name, e.g. webhook
    outcome: str  # delivered | failed
    status: int  # the receiver's HTTP status (0 if it did not answer)
    error: str


@dataclass(frozen=True)
class RetentionPruned(GovernanceEvent):
    """A retention run dropped view rows past their period; events are kept (a stream each)."""

    periods: JSON = field(default_factory=dict)  # data class -> retention period, e.g. 90d
    cutoffs: JSON = field(default_factory=dict)  # data class -> rows before this instant went
    pruned: JSON = field(default_factory=dict)  # data class -> rows dropped or emptied
    archived: JSON = field(default_factory=dict)  # archive run: file, events copied, head


@dataclass(frozen=True)
class SubjectErased(GovernanceEvent):
    """A subject's key was destroyed, so its sealed personal data opens as erased."""

    ref: str  # the subject's reference (subj- and an HMAC of its value), never the value
    keys_destroyed: int = 0  # 1 if the subject had a key, 0 if it had none (never seen)


@dataclass(frozen=True)
class SecretRotated(GovernanceEvent):
    """A referenced secret's value changed at its manager and is now used; never the value."""

    reference: str  # the reference as configured, e.g. vault.secret/llm/openai#api_key
    fingerprint: str  # sha256: and 16 hex of the new value's SHA-256
    previous_fingerprint: str = ""  # the same of the value it replaced
    seen_by: str = ""  # the gateway instance (name/incarnation) that fetched it


@dataclass(frozen=True)
class SecretFetchFailed(GovernanceEvent):
    """A referenced secret could not be fetched; the last good value (if any) stays in use."""

    reference: str
    cause: str  # one line: what the manager answered, or why it could not be reached
    kept: bool = False  # True when a last good value stays in use
    fingerprint: str = ""  # the fingerprint of the value kept
    seen_by: str = ""


@dataclass(frozen=True)
class SecretRestored(GovernanceEvent):
    """A referenced secret that was unavailable was fetched again."""

    reference: str
    fingerprint: str = ""
    seen_by: str = ""


# --- usage ------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageEvent(LedgerEvent):
    """A fact about one request; the stream id derives from the request id."""

    request_id: str  # the gateway's id of the request (a UUID)


@dataclass(frozen=True)
class RequestAdmitted(UsageEvent):
    """A request passed every check and reserved an upper bound at every level."""

    instance: str  # the gateway instance that admitted the request
    incarnation: str  # that instance's process start, to find requests a crash left open
    key_id: str
    team_id: str | None
    customer_id: str | None
    surface: str
    model: str
    provider: str | None  # the provider the client pinned, if any
    reservations: list[JSON]  # {budget, period, amount}: USD upper bound per budget period
    rate: list[JSON]  # {limit, kind, amount, capacity, window_s} charged to each rate limit
    estimate: JSON  # the token and cost bounds the reservation was computed from
    headers: JSON  # request headers the settings ask to record
    user_id: str | None = None  # the user who owns the key, if any (None in older events)


@dataclass(frozen=True)
class RequestSettled(UsageEvent):
    """A request finished; actual cost and tokens replace its reservation."""

    instance: str
    incarnation: str
    status: str  # ok | upstream_error | client_disconnected | failed
    reason: str
    provider: str | None  # the provider that answered (None if none did)
    provider_key_id: str | None
    model: str
    tokens: JSON  # {input, output, cached, reasoning} token counts
    cost: Decimal  # actual cost in USD
    price_source: str  # override | genai-prices | zero (may carry a suffix)
    charges: list[JSON]  # {budget, period, amount}: actual USD per budget period
    rate: list[JSON]  # {limit, kind, amount}: token-limit adjustment (actual - estimate)
    attempts: list[JSON]  # {provider, key_id, status, error, ms} per upstream try
    latency_ms: float  # from admission to settlement


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
    code: str  # e.g. budget_exceeded, request_limited, virtual_key_blocked
    level: str  # auth | request | pricing | ledger | or a budget or limit level
    message: str
    headers: JSON


@dataclass(frozen=True)
class McpToolExecuted(UsageEvent):
    """A key ran an MCP tool through the gateway; arguments and results are not kept."""

    key_id: str
    client: str  # the MCP client (server) name
    tool: str  # the tool's name on that server
    status: str  # ok | tool_error (the tool reported an error) | failed (no answer)
    reason: str
    argument_bytes: int  # size of the JSON arguments, for audit without their content
    duration_ms: float  # how long the server took to answer
    headers: JSON  # request headers the settings ask to record


@dataclass(frozen=True)
class McpToolRefused(UsageEvent):
    """An MCP tool call was refused before it ran; `code` names why (e.g. mcp_tool_blocked)."""

    key_id: str | None
    client: str
    tool: str
    code: str  # mcp_tool_blocked | virtual_key_required | missing_required_headers | ...
    message: str
    headers: JSON


@dataclass(frozen=True)
class GuardrailTriggered(UsageEvent):
    """A guardrail check decided on a request or answer (one event per finding): offsets only."""

    key_id: str | None
    surface: str
    model: str
    direction: str  # input | output
    policy: str  # the guardrail policy's id
    check: str  # e.g. pii.card, deny.regex, external.azure_content_safety
    category: str  # e.g. payment_card, prompt_injection, check_unavailable
    action: str  # block | redact | flag | none (a check that failed open)
    start: int  # character offsets in the checked text (0, 0 for whole-text findings)
    end: int
    streamed: bool = False  # found in a stream's sliding window
    detail: str = ""  # e.g. why an external check could not run; never the matched text


@dataclass(frozen=True)
class RouteStateChanged(LedgerEvent):
    """A route's health state changed (adaptive routing); alerts can fire on it."""

    route_provider: str  # the route: provider, provider key and the model name it is sent
    route_key_id: str
    route_model: str
    previous: str  # healthy | degraded | failed | recovering
    state: str  # healthy | degraded | failed | recovering
    why: str  # e.g. error rate 0.21 >= 0.1, a 429 with Retry-After, cool-down over
    recorded_by: str = ""  # the instance whose append the store kept (the first)


# --- allotments: one stream per strict budget period, shared by every instance ----------


@dataclass(frozen=True)
class AllotmentEvent(LedgerEvent):
    """A change to one budget period's book of allotments (its stream: `allotment.book_id`),
    or to a rate limit's shared GCRA book (`budget` then `rate:{limit}`, amounts in units)."""

    budget: str  # the budget id, e.g. `virtual_key:k1#1d` (or `rate:virtual_key:k1#requests`)
    period: str  # the period's start, ISO UTC (a rate book: `gcra:{capacity}/{window_s}`)
    holder: str  # the instance and incarnation holding the allotment: `name/incarnation`


@dataclass(frozen=True)
class AllotmentGranted(AllotmentEvent):
    """A holder may admit up to `amount` USD more of the period's strict budget."""

    amount: Decimal
    opening: Decimal  # spent or reserved before the book's first grant (set by version 1)
    limit: Decimal  # the budget's limit the grant was sized under
    members: int  # the instances alive when it was sized
    tat: float = 0.0  # a rate limit's book: its TAT after this grant (a cold reader starts here)


@dataclass(frozen=True)
class AllotmentReturned(AllotmentEvent):
    """A holder gave back `amount` USD it had not used (clean shutdown, or too small to use)."""

    amount: Decimal
    reason: str  # shutdown | too_small | lapsed (a rate grant's use time ended)
    grant: int = 0  # a rate limit's book: the version of the grant given back (0: a budget's)
    tat: float = 0.0  # a rate limit's book: its TAT after this return


@dataclass(frozen=True)
class AllotmentExpired(AllotmentEvent):
    """A holder's lease ended unseen; `amount`, its grant less its spend, is free again."""

    amount: Decimal
    recorded_by: str  # the instance whose append the store kept


GOVERNANCE_EVENTS: tuple[type[EntityEvent], ...] = (
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
    VirtualKeyRotated,
    AdminTokenIssued,
    AdminTokenRevoked,
    RoleCreated,
    RoleUpdated,
    RoleDeleted,
    GuardrailCreated,
    GuardrailUpdated,
    GuardrailDeleted,
    UserCreated,
    UserUpdated,
    UserDeleted,
    UserJoinedTeam,
    UserLeftTeam,
    SessionStarted,
    SessionEnded,
)
ACCESS_EVENTS: tuple[type[GovernanceEvent], ...] = (AccessDenied, LoginFailed)
ALERT_EVENTS: tuple[type[GovernanceEvent], ...] = (AlertDeliveryAttempted,)
RETENTION_EVENTS: tuple[type[GovernanceEvent], ...] = (RetentionPruned,)
ERASURE_EVENTS: tuple[type[GovernanceEvent], ...] = (SubjectErased,)
SECRET_EVENTS: tuple[type[GovernanceEvent], ...] = (
    SecretRotated,
    SecretFetchFailed,
    SecretRestored,
)
USAGE_EVENTS: tuple[type[UsageEvent], ...] = (
    RequestAdmitted,
    RequestSettled,
    RequestAbandoned,
    RequestRejected,
    McpToolExecuted,
    McpToolRefused,
    GuardrailTriggered,
)
ROUTE_EVENTS: tuple[type[LedgerEvent], ...] = (RouteStateChanged,)  # in the usage application
ALLOTMENT_EVENTS: tuple[type[AllotmentEvent], ...] = (  # in the usage application
    AllotmentGranted,
    AllotmentReturned,
    AllotmentExpired,
)
ALL_EVENTS: tuple[type[LedgerEvent], ...] = (
    GOVERNANCE_EVENTS
    + ACCESS_EVENTS
    + ALERT_EVENTS
    + RETENTION_EVENTS
    + ERASURE_EVENTS
    + SECRET_EVENTS
    + USAGE_EVENTS
    + ROUTE_EVENTS
    + ALLOTMENT_EVENTS
)


def _keep_old_topics_loading() -> None:
    """Release 0.1 stored each event under `ledger.events:<Class>` (the class path of its day,
    before the code moved under `govledger`): those topics resolve to the same classes."""
    for name, value in list(globals().items()):
        if (
            isinstance(value, type)
            and issubclass(value, LedgerEvent)
            and value.__module__ == __name__
        ):
            register_topic(f"ledger.events:{name}", value)


_keep_old_topics_loading()
