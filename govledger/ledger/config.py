"""The declarative configuration file: its schema, and validation that names JSON paths."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from govledger.ledger.periods import DurationError, parse_duration
from govledger.ledger.route_params import health_params, health_problems
from govledger.ledger.secrets.references import parse_reference
from govledger.ledger.spec import IDENTIFIER as IDENTIFIER
from govledger.ledger.spec import PROVIDER_NAME as PROVIDER_NAME
from govledger.ledger.spec import Spec as Spec
from govledger.ledger.sso import SsoSpec

MCP_CLIENT_NAME = r"^[A-Za-z0-9_]{1,32}$"
MINUTE_SECONDS = 60
MONTH_SECONDS = 31 * 86400
# Headers that carry a credential: never recorded in usage events nor grouped by in reports.
CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "x-goog-api-key", "x-bf-vk"}
)


class ConfigError(ValueError):
    """A configuration was refused; each problem names the JSON path of the bad field."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{path}: {message}" for path, message in self.problems))


def _check_duration(value: str) -> str:
    try:
        return str(parse_duration(value))
    except DurationError as error:
        raise ValueError(str(error)) from None


class BudgetSpec(Spec):
    """A spending limit in USD over a reset duration."""

    max_limit: Decimal = Field(ge=0, description="Limit in USD per period")
    reset_duration: str = Field(description="30s, 5m, 1h, 1d, 1w, 1M, 1Q, 1Y or a multiple")
    calendar_aligned: bool = Field(False, description="Align periods to the UTC calendar")
    mode: Literal["strict", "optimistic"] = "strict"

    _duration = field_validator("reset_duration")(_check_duration)

    @field_validator("max_limit")
    @classmethod
    def _finite(cls, value: Decimal) -> Decimal:
        if not value.is_finite():
            raise ValueError("must be a finite number")
        return value


class RateLimitSpec(Spec):
    """Request and/or token limits over sliding windows (GCRA)."""

    request_max_limit: int | None = Field(None, gt=0)
    request_reset_duration: str | None = None
    token_max_limit: int | None = Field(None, gt=0)
    token_reset_duration: str | None = None

    @field_validator("request_reset_duration", "token_reset_duration")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        if value is None:
            return None
        duration = parse_duration(_check_duration(value))
        if not MINUTE_SECONDS <= duration.approx_seconds <= MONTH_SECONDS:
            raise ValueError(f"rate-limit windows go from 1m to 1M, got {value!r}")
        return str(duration)

    @model_validator(mode="after")
    def _pairs(self) -> RateLimitSpec:
        for kind in ("request", "token"):
            limit = getattr(self, f"{kind}_max_limit")
            window = getattr(self, f"{kind}_reset_duration")
            if (limit is None) != (window is None):
                raise ValueError(f"{kind}_max_limit and {kind}_reset_duration go together")
        if self.request_max_limit is None and self.token_max_limit is None:
            raise ValueError("a rate limit needs a request or a token limit")
        return self


def _distinct_durations(budgets: list[BudgetSpec]) -> list[BudgetSpec]:
    seen = [b.reset_duration for b in budgets]
    if len(set(seen)) != len(seen):
        raise ValueError("budgets of one owner must have distinct reset_duration values")
    return budgets


class ProviderKeySpec(Spec):
    """One upstream API key: a reference (docs/secrets.md) or a literal (stored encrypted)."""

    id: str = Field(pattern=IDENTIFIER)
    value: str = Field(min_length=1)
    weight: float = Field(1.0, ge=0)
    models: list[str] = Field(default_factory=lambda: ["*"])

    @field_validator("value")
    @classmethod
    def _well_formed_reference(cls, value: str) -> str:
        if isinstance(value, str):  # the API's body may leave it out (None): keep the stored
            parse_reference(value)  # ReferenceError (a ValueError) says what is wrong
        return value


class ProviderSpec(Spec):
    """An upstream vendor endpoint and its keys."""

    name: str = Field(pattern=PROVIDER_NAME)
    type: Literal["openai", "anthropic", "gemini"]
    base_url: str = Field(pattern=r"^https?://")
    keys: list[ProviderKeySpec] = Field(min_length=1)

    @field_validator("keys")
    @classmethod
    def _unique_keys(cls, keys: list[ProviderKeySpec]) -> list[ProviderKeySpec]:
        ids = [k.id for k in keys]
        if len(set(ids)) != len(ids):
            raise ValueError("provider key ids must be unique")
        return keys


class CustomerSpec(Spec):
    """A paying customer with its budgets."""

    id: str = Field(pattern=IDENTIFIER)
    name: str = Field(min_length=1)
    budgets: list[BudgetSpec] = Field(default_factory=list)

    _budgets = field_validator("budgets")(_distinct_durations)


class PersonalKeysSpec(Spec):
    """What a team's members may give their own keys (`/api/me/keys`)."""

    providers: list[str] = Field(min_length=1, description="the providers a personal key uses")
    models: list[str] = Field(default_factory=lambda: ["*"], description="models it may call")
    max_budget: Decimal = Field(ge=0, description="the largest budget of one key, USD")
    budget_duration: str = Field(default="30d", description="the period of that budget")
    max_days: int = Field(default=90, ge=1, le=3650, description="the longest life of a key")
    max_keys: int = Field(default=5, ge=1, le=100, description="live keys per member")

    _duration = field_validator("budget_duration")(_check_duration)


class TeamSpec(Spec):
    """A team, optionally owned by a customer, with its budgets."""

    id: str = Field(pattern=IDENTIFIER)
    name: str = Field(min_length=1)
    customer_id: str | None = None
    budgets: list[BudgetSpec] = Field(default_factory=list)
    personal_keys: PersonalKeysSpec | None = None

    _budgets = field_validator("budgets")(_distinct_durations)


class ProviderConfigSpec(Spec):
    """A route of a virtual key to one provider, with its own limits."""

    provider: str
    weight: float = Field(1.0, ge=0)
    allowed_models: list[str] = Field(default_factory=lambda: ["*"])
    key_ids: list[str] = Field(default_factory=lambda: ["*"])
    budgets: list[BudgetSpec] = Field(default_factory=list)
    rate_limit: RateLimitSpec | None = None
    model_map: dict[str, str] = Field(
        default_factory=dict, description="Requested model -> the model name sent to this provider"
    )

    _budgets = field_validator("budgets")(_distinct_durations)


class McpConfigSpec(Spec):
    """The MCP tools a key may use from one client: `["*"]` all, `[]` none, or names."""

    mcp_client_name: str
    tools_to_execute: list[str] = Field(default_factory=list)


class McpClientSpec(Spec):
    """An MCP server reached over streamable HTTP; its tools are offered as `name-tool`."""

    name: str = Field(pattern=MCP_CLIENT_NAME, description="Letters, digits and _ (no -)")
    url: str = Field(pattern=r"^https?://")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Headers sent to the server, each an env.NAME reference"
    )

    @field_validator("headers")
    @classmethod
    def _references_only(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not value.startswith("env."):
                raise ValueError(f"header {name!r} must be an env.NAME reference (no secrets)")
        return headers


class AdaptiveWeightsSpec(Spec):
    """How health scales a key's weights (adaptive routing; absent: the file's, else defaults)."""

    error_penalty: float | None = Field(
        default=None,
        ge=0,
        le=1000,
        description="a Degraded route's factor is exp(-this x error rate)",
    )
    latency_tolerance: float | None = Field(
        default=None,
        ge=1,
        le=100,
        description="latency up to this multiple of the best costs nothing",
    )
    latency_samples: float | None = Field(
        default=None, ge=0, le=1_000_000, description="decayed successes before a latency counts"
    )
    probe_floor: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="a Recovering route's factor, and the least of a live one",
    )
    max_boost: float | None = Field(
        default=None, ge=1, le=1000, description="no share above this x the configured share"
    )


class AdaptiveSpec(AdaptiveWeightsSpec):
    """Adaptive routing's parameters (docs/routing.md): the health fold's and the weights'."""

    bucket_s: float | None = Field(
        default=None, ge=0.05, le=60, description="evidence bucket width"
    )
    interval_s: float | None = Field(default=None, ge=0.05, le=60, description="recompute tick")
    settle_s: float | None = Field(
        default=None, ge=0, le=60, description="a bucket counts this long after it ends (tail lag)"
    )
    horizon_s: float | None = Field(default=None, ge=1, le=86400, description="evidence kept")
    decay_s: float | None = Field(default=None, ge=0.1, le=86400, description="decay time constant")
    min_samples: float | None = Field(
        default=None, ge=0, le=1_000_000, description="decayed attempts before an error rate counts"
    )
    degrade_at: float | None = Field(default=None, gt=0, le=1, description="error rate to Degraded")
    recover_at: float | None = Field(
        default=None, ge=0, lt=1, description="error rate back to Healthy"
    )
    fail_at: float | None = Field(default=None, gt=0, le=1, description="error rate to Failed")
    cooldown_s: float | None = Field(
        default=None,
        ge=0,
        le=86400,
        description="a Failed route's cool-down (a longer Retry-After wins)",
    )
    probes_needed: int | None = Field(
        default=None, ge=1, le=10_000, description="probes that recover"
    )
    reference_tokens: int | None = Field(
        default=None, ge=1, le=1_000_000, description="a stream's latency: first token + this many"
    )
    max_routes: int | None = Field(
        default=None, ge=1, le=100_000, description="routes tracked at most"
    )

    @model_validator(mode="after")
    def _consistent(self) -> AdaptiveSpec:
        problems = health_problems(health_params({"adaptive": self.model_dump()}))
        if problems:
            raise ValueError("; ".join(f"{name}: {message}" for name, message in problems))
        return self


class VirtualKeySpec(Spec):
    """A virtual key: the credential and policy of one consumer."""

    id: str = Field(pattern=IDENTIFIER)
    name: str = Field(min_length=1)
    description: str = ""
    value: str | None = Field(None, description="sk-bf-… literal or env.NAME; generated if absent")
    is_active: bool = True
    expires_at: datetime | None = None
    team_id: str | None = None
    customer_id: str | None = None
    user_id: str | None = Field(
        default=None, description="the user who owns the key (their budgets and limits apply too)"
    )
    provider_configs: list[ProviderConfigSpec] = Field(default_factory=list)
    budgets: list[BudgetSpec] = Field(default_factory=list)
    rate_limit: RateLimitSpec | None = None
    mcp_configs: list[McpConfigSpec] = Field(default_factory=list)
    routing: Literal["weighted", "adaptive"] | None = Field(
        None,
        description="weighted: configured weights; adaptive: weights follow each route's"
        " health (docs/routing.md); absent: the file's `routing`",
    )
    adaptive: AdaptiveWeightsSpec | None = Field(
        default=None,
        description="this key's adaptive weight parameters; absent: the file's `adaptive`",
    )

    _budgets = field_validator("budgets")(_distinct_durations)

    @field_validator("value")
    @classmethod
    def _value_shape(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith("sk-bf-") or value.startswith("env.")):
            raise ValueError(
                "a virtual key value is an `sk-bf-` literal or an `env.NAME` reference"
            )
        if value is not None and value.startswith("sk-bf-") and len(value) < 16:
            raise ValueError("a literal virtual key needs at least 10 characters after `sk-bf-`")
        return value

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("expires_at needs a time zone, e.g. 2027-01-01T00:00:00Z")
        return value

    @field_validator("customer_id")
    @classmethod
    def _one_owner(cls, value: str | None, info: ValidationInfo) -> str | None:
        # A field validator (not a model one) so the error names `customer_id`'s path.
        if value is not None and info.data.get("team_id") is not None:
            raise ValueError("a virtual key belongs to a team or a customer, never both")
        return value


class UserLimitsSpec(Spec):
    """A user's own budgets and rate limit, checked on every key the user owns."""

    budgets: list[BudgetSpec] = Field(default_factory=list)
    rate_limit: RateLimitSpec | None = None

    _budgets = field_validator("budgets")(_distinct_durations)


class PricingOverrideSpec(Spec):
    """Prices in USD per million tokens for a model the catalog lacks or prices differently."""

    provider: str
    model: str
    input_per_mtok: Decimal = Field(ge=0)
    output_per_mtok: Decimal = Field(ge=0)
    cached_input_per_mtok: Decimal | None = Field(None, ge=0)


GuardrailCheckType = Literal[
    "pii.email",
    "pii.phone",
    "pii.card",
    "pii.iban",
    "pii.ssn",
    "pii.ip",
    "secrets.api_key",
    "secrets.private_key",
    "secrets.jwt",
    "secrets.gateway_key",
    "deny.keywords",
    "deny.regex",
    "size.max_prompt",
    "injection.heuristic",
    "external.openai_moderation",
    "external.azure_content_safety",
    "external.bedrock_guardrail",
]
GUARDRAIL_CHECKS: tuple[str, ...] = get_args(GuardrailCheckType)  # the same names, as data
ATTACHMENT = r"^(?:\*|(?:customer|team|virtual_key|user):[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127})$"
REFERENCE = r"^env\.[A-Za-z_][A-Za-z0-9_]*$"


def _re2_patterns(patterns: list[str]) -> list[str]:
    """Refuse a pattern RE2 cannot run (back-references, look-around) or too long."""
    import re2  # noqa: PLC0415  (only when a file has some)

    options = re2.Options()
    options.log_errors = False
    options.max_mem = 8 << 20
    if len(patterns) > 200:
        raise ValueError("at most 200 patterns")
    for index, pattern in enumerate(patterns):
        if len(pattern) > 1000:
            raise ValueError(f"pattern {index} is longer than 1000 characters")
        try:
            re2.compile(pattern, options)
        except re2.error as error:
            raw = error.args[0] if error.args else b""
            detail = raw.decode() if isinstance(raw, bytes) else str(raw)
            raise ValueError(
                f"pattern {index} is not in the RE2 syntax (no back-references or"
                f" look-around): {detail}"
            ) from None
    return patterns


class GuardrailCheckSpec(Spec):
    """One check of a guardrail policy and what to do with its findings."""

    type: GuardrailCheckType
    action: Literal["block", "redact", "flag"] = "block"
    keywords: list[str] = Field(default_factory=list, max_length=1000)
    patterns: list[str] = Field(default_factory=list, description="RE2 syntax")
    max_bytes: int | None = Field(None, gt=0, description="size.max_prompt: UTF-8 bytes")
    threshold: float | None = Field(
        None, ge=0, description="injection weight, or the external check's severity/score"
    )
    provider: str | None = Field(None, description="external.openai_moderation: a provider")
    endpoint: str | None = Field(None, pattern=r"^https?://", description="external endpoint")
    api_key: str | None = Field(None, pattern=REFERENCE, description="env.NAME reference")
    region: str | None = Field(None, pattern=r"^[a-z0-9-]{1,32}$")
    guardrail_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    guardrail_version: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    access_key_id: str | None = Field(None, pattern=REFERENCE)
    secret_access_key: str | None = Field(None, pattern=REFERENCE)

    _re2 = field_validator("patterns")(_re2_patterns)

    @model_validator(mode="after")
    def _parameters(self) -> GuardrailCheckSpec:
        needs = {
            "deny.keywords": ("keywords",),
            "deny.regex": ("patterns",),
            "size.max_prompt": ("max_bytes",),
            "external.openai_moderation": ("provider",),
            "external.azure_content_safety": ("endpoint", "api_key"),
            "external.bedrock_guardrail": (
                "region",
                "guardrail_id",
                "guardrail_version",
                "access_key_id",
                "secret_access_key",
            ),
        }.get(self.type, ())
        missing = [name for name in needs if not getattr(self, name)]
        if missing:
            raise ValueError(f"a {self.type} check needs {', '.join(missing)}")
        if self.type == "size.max_prompt" and self.action == "redact":
            raise ValueError("size.max_prompt cannot redact: block or flag")
        if self.type.startswith("external.") and self.action == "redact":
            raise ValueError("external checks report categories, not spans: block or flag")
        return self


class GuardrailSpec(Spec):
    """A guardrail policy: checks on input, output or both, attached to owners."""

    id: str = Field(pattern=IDENTIFIER)
    name: str = ""
    attach: list[Annotated[str, Field(pattern=ATTACHMENT)]] = Field(
        default_factory=list,
        description='"*" (every request), customer:ID, team:ID, virtual_key:ID or user:ID',
    )
    scope: Literal["input", "output", "both"] = "both"
    checks: list[GuardrailCheckSpec] = Field(min_length=1, max_length=50)
    sampling_rate: float = Field(1.0, ge=0, le=1, description="share of requests checked")
    timeout_ms: int = Field(1000, ge=1, le=60000, description="per policy and direction")
    on_error: Literal["fail_open", "fail_closed"] = "fail_open"
    stream_window: int = Field(256, ge=16, le=8192, description="characters held back")
    enabled: bool = True


Durability = Literal["before_response", "after_response"]


class LedgerSpec(Spec):
    """When a request's settlement is durable, relative to its response."""

    durability: Durability = Field(
        default="before_response",
        description=(
            "before_response: each response waits for its settlement's commit (nothing served "
            "is ever lost). after_response: the response goes out once the settlement is in "
            "memory, committed by the next group commit (a kill -9 can lose the last few "
            "milliseconds of settlements; docs/reliability.md)"
        ),
    )


class ConfigFile(Spec):
    """The whole file `govledger apply` reads."""

    schema_: str | None = Field(None, alias="$schema")
    providers: list[ProviderSpec] = Field(default_factory=list)
    customers: list[CustomerSpec] = Field(default_factory=list)
    teams: list[TeamSpec] = Field(default_factory=list)
    virtual_keys: list[VirtualKeySpec] = Field(default_factory=list)
    pricing_overrides: list[PricingOverrideSpec] = Field(default_factory=list)
    allow_unknown_prices: bool = False
    required_headers: dict[str, str] = Field(
        default_factory=dict, description='Header -> "*", "env.NAME" or a full-match regex'
    )
    record_headers: list[str] = Field(default_factory=list)
    mcp_clients: list[McpClientSpec] = Field(default_factory=list)
    guardrails: list[GuardrailSpec] = Field(default_factory=list)
    routing: Literal["weighted", "adaptive"] = Field(
        "weighted", description="The routing of keys that do not set their own"
    )
    sso: SsoSpec | None = Field(None, description="Single sign-on (docs/identity.md)")
    ledger: LedgerSpec = Field(default_factory=LedgerSpec)
    adaptive: AdaptiveSpec | None = Field(
        default=None,
        description="adaptive routing's parameters (docs/routing.md); absent: defaults",
    )

    @field_validator("required_headers")
    @classmethod
    def _header_rules(cls, rules: dict[str, str]) -> dict[str, str]:
        for name, rule in rules.items():
            if rule == "*" or rule.startswith("env."):
                continue
            try:
                re.compile(rule)
            except re.error as error:
                raise ValueError(f"header {name!r}: not a regular expression ({error})") from None
        return rules


def credential_headers(settings: Mapping[str, Any]) -> frozenset[str]:
    """The credential headers, plus those the settings name as credentials (lower case).

    A required header checked against an `env.NAME` value is a shared secret, and so is
    every header sent to an MCP server.
    """
    named = {
        name.lower()
        for name, rule in (settings.get("required_headers") or {}).items()
        if str(rule).startswith("env.")
    }
    for client in settings.get("mcp_clients") or []:
        named.update(name.lower() for name in (client.get("headers") or {}))
    return CREDENTIAL_HEADERS | named


def credential_problems(
    record_headers: Sequence[str], settings: Mapping[str, Any], base: str = "record_headers"
) -> list[tuple[str, str]]:
    """The record_headers entries that name a credential header, by JSON path."""
    secret = credential_headers(settings)
    return [
        (f"{base}[{i}]", f"{name!r} carries a credential and cannot be recorded")
        for i, name in enumerate(record_headers)
        if name.lower() in secret
    ]


def _path(location: Sequence[int | str]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(root)"


def parse_config(raw: Any) -> ConfigFile:
    """Validate a decoded JSON document; raise ConfigError naming every bad path."""
    try:
        config = ConfigFile.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(describe_errors(error.errors())) from None
    problems = check_references(config)
    if problems:
        raise ConfigError(problems)
    return config


def describe_errors(items: Sequence[Any]) -> list[tuple[str, str]]:
    """Pydantic error items as (JSON path, message) pairs, e.g. `teams[0].name`."""
    problems = []
    for item in items:
        location = [p for p in item["loc"] if not str(p).startswith("function-")]
        message = re.sub(r"^(Value|Assertion) error, ", "", item["msg"])
        problems.append((_path(location), message))
    return problems


def check_references(config: ConfigFile) -> list[tuple[str, str]]:
    """Return the problems of ids that are duplicated or point at nothing."""
    problems = credential_problems(config.record_headers, config.model_dump())
    for section in ("providers", "customers", "teams", "virtual_keys", "guardrails"):
        seen: set[str] = set()
        for index, item in enumerate(getattr(config, section)):
            ident = item.name if section == "providers" else item.id
            if ident in seen:
                problems.append((f"{section}[{index}]", f"duplicate id {ident!r}"))
            seen.add(ident)
    providers = {p.name: p for p in config.providers}
    clients = [c.name for c in config.mcp_clients]
    for index, name in enumerate(clients):
        if name in clients[:index]:
            problems.append((f"mcp_clients[{index}].name", f"duplicate MCP client {name!r}"))
    customers = {c.id for c in config.customers}
    teams = {t.id for t in config.teams}
    for index, team in enumerate(config.teams):
        if team.customer_id is not None and team.customer_id not in customers:
            problems.append(
                (f"teams[{index}].customer_id", f"no customer {team.customer_id!r} in the file")
            )
    for index, key in enumerate(config.virtual_keys):
        base = f"virtual_keys[{index}]"
        if key.team_id is not None and key.team_id not in teams:
            problems.append((f"{base}.team_id", f"no team {key.team_id!r} in the file"))
        if key.customer_id is not None and key.customer_id not in customers:
            problems.append((f"{base}.customer_id", f"no customer {key.customer_id!r} in the file"))
        routed: set[str] = set()
        for j, route in enumerate(key.provider_configs):
            if route.provider in routed:  # its budgets and limits would share one id
                problems.append(
                    (
                        f"{base}.provider_configs[{j}].provider",
                        f"provider {route.provider!r} already has a provider config in this key",
                    )
                )
            routed.add(route.provider)
            provider = providers.get(route.provider)
            if provider is None:
                problems.append(
                    (f"{base}.provider_configs[{j}].provider", f"no provider {route.provider!r}")
                )
                continue
            known = {k.id for k in provider.keys}
            for m, key_id in enumerate(route.key_ids):
                if key_id != "*" and key_id not in known:
                    problems.append(
                        (
                            f"{base}.provider_configs[{j}].key_ids[{m}]",
                            f"provider {route.provider!r} has no key {key_id!r}",
                        )
                    )
    return problems
