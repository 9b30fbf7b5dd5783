"""Each virtual key's policy, compiled from governance state for the hot path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

from govledger.ledger.charges import (
    BudgetId,
    LimitId,
    budget_id,
    limit_id,
    owner_scope,
    route_scope,
)
from govledger.ledger.credentials import CredentialError, SecretBox, resolve_reference
from govledger.ledger.entities import GovernanceState
from govledger.ledger.periods import Schedule, parse_duration
from govledger.ledger.route_params import DEFAULT_WEIGHTS, WeightParams, weight_params


@dataclass(frozen=True, slots=True)
class BudgetRule:
    """One budget: id, the level it belongs to, its limit and schedule."""

    id: BudgetId
    level: str  # provider_config | virtual_key | user | team | customer
    owner: str
    limit: Decimal
    schedule: Schedule
    mode: str


@dataclass(frozen=True, slots=True)
class RateRule:
    """One rate limit (requests or tokens) as a GCRA capacity over a window."""

    id: LimitId
    level: str
    kind: str  # requests | tokens
    capacity: int
    window_s: float


@dataclass(frozen=True, slots=True)
class ProviderKey:
    """An upstream key a route may use; `secret` is resolved in memory only."""

    id: str
    weight: float
    models: tuple[str, ...]
    secret: str | None


@dataclass(frozen=True, slots=True)
class Route:
    """A provider config of a key: where it may go, and the limits of going there."""

    provider: str
    provider_type: str
    base_url: str
    weight: float
    allowed_models: tuple[str, ...]
    keys: tuple[ProviderKey, ...]
    budgets: tuple[BudgetRule, ...]
    rates: tuple[RateRule, ...]
    model_map: tuple[tuple[str, str], ...] = ()  # requested model -> the name this provider uses

    def allows(self, model: str) -> bool:
        """True if the route may serve the model (and one of its keys may)."""
        if "*" not in self.allowed_models and model not in self.allowed_models:
            return False
        return any("*" in k.models or model in k.models for k in self.keys)

    def upstream_model(self, model: str) -> str:
        """The model name sent to this provider: mapped, else without a `provider/` prefix."""
        for requested, sent in self.model_map:
            if requested == model:
                return sent
        prefix = self.provider + "/"
        return model[len(prefix) :] if model.startswith(prefix) else model


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """Everything admission needs about one virtual key."""

    key_id: str
    name: str
    is_active: bool
    expires_at: float | None
    team_id: str | None
    customer_id: str | None
    routes: tuple[Route, ...]
    budgets: tuple[BudgetRule, ...]
    rates: tuple[RateRule, ...]
    mcp_configs: tuple[dict[str, Any], ...]
    routing: str = "weighted"  # weighted | adaptive (the key's, else the gateway default)
    weights: WeightParams = DEFAULT_WEIGHTS  # adaptive weights' parameters (the key's, else)
    user_id: str | None = None  # the user who owns the key (their limits are in budgets/rates)


T = TypeVar("T")


class SharedParts:
    """The parts of compiled policies that many keys have alike, built once and shared.

    10,000 keys under 100 teams held 10,000 copies of their team's and customer's budget
    rules, of their provider's keys (each secret decrypted again) and of equal schedules
    and limits. A part is keyed by the stored values it is built from, but a provider key's
    secret is the value when it was built: the holder empties this whenever it drops its
    compiled policies (a governance change, a secret's new value).
    """

    def __init__(self) -> None:
        self._parts: dict[tuple[object, ...], object] = {}

    def get(self, key: tuple[object, ...], build: Callable[[], T]) -> T:
        """The part built for `key`, built now the first time."""
        try:
            return cast(T, self._parts[key])
        except KeyError:
            part = self._parts[key] = build()
            return part

    def clear(self) -> None:
        """Forget every part: the next compiles build them again."""
        self._parts.clear()

    def __len__(self) -> int:
        return len(self._parts)


def _limit(raw: Any, shared: SharedParts | None) -> Decimal:
    if shared is None:
        return Decimal(raw)
    return shared.get(("limit", type(raw), str(raw)), lambda: Decimal(raw))  # 10.0 is not 10


def _schedule(b: dict[str, Any], shared: SharedParts | None) -> Schedule:
    def build() -> Schedule:
        return Schedule(
            parse_duration(b["reset_duration"]),
            bool(b["calendar_aligned"]),
            datetime.fromisoformat(b["anchor"]),
        )

    if shared is None:
        return build()
    return shared.get(
        ("schedule", b["reset_duration"], bool(b["calendar_aligned"]), b["anchor"]), build
    )


def _budgets(
    level: str,
    owner: str,
    scope: str,
    items: list[dict[str, Any]],
    shared: SharedParts | None = None,
) -> list[BudgetRule]:
    return [
        BudgetRule(
            id=budget_id(scope, b["reset_duration"]),
            level=level,
            owner=owner,
            limit=_limit(b["max_limit"], shared),
            schedule=_schedule(b, shared),
            mode=b.get("mode", "strict"),
        )
        for b in items
    ]


def _owner_budgets(
    level: str, owner: str, items: list[dict[str, Any]], shared: SharedParts
) -> tuple[BudgetRule, ...]:
    """A team's, customer's or user's budget rules: the same for each of its keys."""
    stored = tuple(
        (
            type(b["max_limit"]),
            str(b["max_limit"]),
            b["reset_duration"],
            bool(b["calendar_aligned"]),
            b["anchor"],
            b.get("mode", "strict"),
        )
        for b in items
    )
    return shared.get(
        ("budgets", level, owner, stored),
        lambda: tuple(_budgets(level, owner, owner_scope(level, owner), items, shared)),
    )


def _rates(level: str, scope: str, limit: dict[str, Any] | None) -> list[RateRule]:
    if not limit:
        return []
    rules = []
    for kind, prefix in (("requests", "request"), ("tokens", "token")):
        capacity = limit.get(f"{prefix}_max_limit")
        if capacity:
            window = parse_duration(limit[f"{prefix}_reset_duration"]).approx_seconds
            rules.append(RateRule(limit_id(scope, kind), level, kind, int(capacity), float(window)))
    return rules


SecretOf = Callable[[str], str | None]  # a reference's value held in memory, or None


def _secret(key: dict[str, Any], box: SecretBox, secret_of: SecretOf | None) -> str | None:
    try:
        if "value_ref" in key:
            if secret_of is not None:
                return secret_of(key["value_ref"])
            return resolve_reference(key["value_ref"])
        return box.decrypt(key["value_enc"])
    except CredentialError:
        return None  # the route stays, but calls with this key fail as a configuration error


def compile_policy(
    state: GovernanceState,
    key_id: str,
    box: SecretBox,
    secret_of: SecretOf | None = None,
    shared: SharedParts | None = None,
) -> KeyPolicy | None:
    """Compile one key's policy, or None if the key does not exist; referenced provider keys
    come from `secret_of` (the gateway's cache), else are fetched now (tools). With `shared`,
    the parts keys have alike are taken from it (and left there for the next key)."""
    data = state.get("virtual_key", key_id)
    if data is None:
        return None
    parts = shared if shared is not None else SharedParts()
    scope = owner_scope("virtual_key", key_id)
    budgets = _budgets("virtual_key", key_id, scope, data["budgets"], parts)
    team = state.get("team", data["team_id"]) if data["team_id"] else None
    customer_id = data["customer_id"] or (team or {}).get("customer_id")
    if team is not None:
        budgets += _owner_budgets("team", data["team_id"], team["budgets"], parts)
    customer = state.get("customer", customer_id) if customer_id else None
    if customer is not None:
        budgets += _owner_budgets("customer", customer_id or "", customer["budgets"], parts)
    user_id = data.get("user_id")
    user = state.get("user", user_id) if user_id else None
    rates = _rates("virtual_key", scope, data["rate_limit"])
    if user is not None:
        user_scope = owner_scope("user", user_id or "")
        budgets += _owner_budgets("user", user_id or "", user.get("budgets", []), parts)
        rates += _rates("user", user_scope, user.get("rate_limit"))
    # A key of a user who is deactivated or gone stops at once (deprovisioning).
    active = bool(data["is_active"]) and (not user_id or bool(user and user["active"]))
    routes = []
    for route in data["provider_configs"]:
        provider = state.get("provider", route["provider"])
        if provider is not None:
            routes.append(_route(key_id, route, provider, box, secret_of, parts))
    expires = data["expires_at"]
    return KeyPolicy(
        key_id=key_id,
        name=data["name"],
        is_active=active,
        expires_at=datetime.fromisoformat(expires).timestamp() if expires else None,
        team_id=data["team_id"],
        customer_id=customer_id,
        routes=tuple(routes),
        budgets=tuple(budgets),
        rates=tuple(rates),
        mcp_configs=tuple(data["mcp_configs"]),
        routing=str(data.get("routing") or state.settings().get("routing") or "weighted"),
        weights=weight_params(state.settings(), data),
        user_id=user_id,
    )


def _route(
    key_id: str,
    route: dict[str, Any],
    provider: dict[str, Any],
    box: SecretBox,
    secret_of: SecretOf | None,
    shared: SharedParts,
) -> Route:
    """One provider config of a key; without budgets or limits of its own it is the same
    for every key that names it alike, and shared."""
    wanted = set(route["key_ids"])
    stored_keys = tuple(
        (k["id"], k["weight"], tuple(k["models"]), k.get("value_ref"), k.get("value_enc"))
        for k in provider["keys"]
    )
    keys_part = ("keys", route["provider"], tuple(sorted(wanted)), stored_keys)
    keys = shared.get(
        keys_part,
        lambda: tuple(
            ProviderKey(k["id"], float(k["weight"]), tuple(k["models"]), _secret(k, box, secret_of))
            for k in provider["keys"]
            if "*" in wanted or k["id"] in wanted
        ),
    )
    model_map = tuple(sorted(route.get("model_map", {}).items()))

    def build(budgets: tuple[BudgetRule, ...], rates: tuple[RateRule, ...]) -> Route:
        return Route(
            provider=route["provider"],
            provider_type=provider["type"],
            base_url=provider["base_url"],
            weight=float(route["weight"]),
            allowed_models=tuple(route["allowed_models"]),
            keys=keys,
            budgets=budgets,
            rates=rates,
            model_map=model_map,
        )

    if not route["budgets"] and not route["rate_limit"]:
        alike = (
            "route",
            provider["type"],
            provider["base_url"],
            float(route["weight"]),
            tuple(route["allowed_models"]),
            keys_part,
            model_map,
        )
        return shared.get(alike, lambda: build((), ()))
    to_provider = route_scope(key_id, route["provider"])
    return build(
        tuple(
            _budgets("provider_config", route["provider"], to_provider, route["budgets"], shared)
        ),
        tuple(_rates("provider_config", to_provider, route["rate_limit"])),
    )


def owner_budgets(state: GovernanceState) -> Iterator[BudgetRule]:
    """Every customer's and team's budgets (customers first, each kind by id)."""
    for level in ("customer", "team"):
        for owner, data in sorted(state.live(level).items()):
            yield from _budgets(level, owner, owner_scope(level, owner), data["budgets"])


def key_budgets(state: GovernanceState) -> Iterator[BudgetRule]:
    """Every key's budgets, each followed by its routes' (keys by id)."""
    for key_id, data in sorted(state.live("virtual_key").items()):
        yield from _budgets(
            "virtual_key", key_id, owner_scope("virtual_key", key_id), data["budgets"]
        )
        for route in data["provider_configs"]:
            to_provider = route_scope(key_id, route["provider"])
            yield from _budgets("provider_config", route["provider"], to_provider, route["budgets"])


def every_rate(state: GovernanceState) -> Iterator[RateRule]:
    """Every rate limit: each key's, followed by its routes' (keys by id)."""
    for key_id, data in sorted(state.live("virtual_key").items()):
        yield from _rates("virtual_key", owner_scope("virtual_key", key_id), data["rate_limit"])
        for route in data["provider_configs"]:
            scope = route_scope(key_id, route["provider"])
            yield from _rates("provider_config", scope, route["rate_limit"])
