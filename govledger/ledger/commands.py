"""Single-entity commands (create, update, delete, rotate, issue, revoke) as pure decisions.

Each reads the folded state and its arguments, checks, and returns the events to append;
it never appends. Versions come from the state, so the store refuses an event if another
writer changed the stream first (optimistic concurrency); `expected` is the version the
caller saw (HTTP If-Match), refused early when the state already knows it is stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from govledger.ledger import events as ev
from govledger.ledger import normalise
from govledger.ledger.access import role_exists
from govledger.ledger.config import (
    ConfigError,
    CustomerSpec,
    ProviderSpec,
    TeamSpec,
    VirtualKeySpec,
)
from govledger.ledger.credentials import SecretBox, display_prefix, hash_secret
from govledger.ledger.entities import EVENT_FOR, GovernanceState, stream_id

Data = dict[str, Any]


class CommandError(Exception):
    """A command was refused; the subclass says why."""


class NotFoundError(CommandError):
    """The entity does not exist (or was deleted)."""


class AlreadyExistsError(CommandError):
    """An entity with that id is already live."""


class StaleVersionError(CommandError):
    """The caller's version of the entity is not the current one."""


class StillInUseError(CommandError):
    """The entity still owns or is used by others; `dependents` names them."""

    def __init__(self, message: str, dependents: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.dependents = dependents


@dataclass(frozen=True)
class Author:
    """Who makes a change, and through which channel."""

    actor: str
    source: str


def event(
    state: GovernanceState,
    kind: str,
    action: str,
    entity_id: str,
    data: Data,
    author: Author,
    now: datetime,
) -> ev.EntityEvent:
    """The event of one change, versioned after the entity's stream in the state."""
    return EVENT_FOR[(kind, action)](
        originator_id=stream_id(kind, entity_id),
        originator_version=state.version(kind, entity_id) + 1,
        timestamp=now,
        actor=author.actor,
        source=author.source,
        entity_id=entity_id,
        data=data,
        managed_by=state.manager(kind, entity_id) or author.source,
    )


def current(state: GovernanceState, kind: str, entity_id: str, expected: int | None) -> Data:
    """The live data of an entity, checking the caller's version if given."""
    data = state.get(kind, entity_id)
    if data is None:
        raise NotFoundError(f"no {kind.replace('_', ' ')} {entity_id!r}")
    version = state.version(kind, entity_id)
    if expected is not None and expected != version:
        raise StaleVersionError(
            f"{kind.replace('_', ' ')} {entity_id!r} is at version {version}, not {expected}"
        )
    return data


def check_absent(state: GovernanceState, kind: str, entity_id: str) -> None:
    """Refuse to create an entity whose id is live."""
    if state.get(kind, entity_id) is not None:
        raise AlreadyExistsError(f"{kind.replace('_', ' ')} {entity_id!r} already exists")


# --- entity data from specs, with the references checked against the state ---------------


def customer_data(state: GovernanceState, spec: CustomerSpec, now: datetime) -> Data:
    """A customer's data."""
    return normalise.customer(spec, state.get("customer", spec.id), now)


def team_data(state: GovernanceState, spec: TeamSpec, now: datetime) -> Data:
    """A team's data; its customer must exist."""
    if spec.customer_id is not None and state.get("customer", spec.customer_id) is None:
        raise ConfigError([("customer_id", f"no customer {spec.customer_id!r}")])
    return normalise.team(spec, state.get("team", spec.id), now)


def provider_data(
    state: GovernanceState, raw: Data, box: SecretBox, name: str
) -> tuple[ProviderSpec, Data]:
    """A provider's data from a body whose keys may omit `value` to keep their stored one."""
    prior = state.get("provider", name)
    stored = {k["id"]: k for k in (prior or {}).get("keys", [])}
    keys = []
    problems = []
    for index, key in enumerate(raw.get("keys", [])):
        if key.get("value") is None:
            old = stored.get(key.get("id", ""))
            if old is None:
                problems.append((f"keys[{index}].value", "a new provider key needs a value"))
                continue
            key = {**key, "value": old.get("value_ref") or box.decrypt(old["value_enc"])}
        keys.append(key)
    if problems:
        raise ConfigError(problems)
    spec = ProviderSpec.model_validate({**raw, "name": name, "keys": keys})
    return spec, normalise.provider(spec, prior, box, "(root)")


def virtual_key_data(
    state: GovernanceState, spec: VirtualKeySpec, now: datetime, generated: str | None
) -> Data:
    """A virtual key's data; its owner, providers and provider keys must exist."""
    problems: list[tuple[str, str]] = []
    if spec.team_id is not None and state.get("team", spec.team_id) is None:
        problems.append(("team_id", f"no team {spec.team_id!r}"))
    if spec.customer_id is not None and state.get("customer", spec.customer_id) is None:
        problems.append(("customer_id", f"no customer {spec.customer_id!r}"))
    if spec.user_id is not None and state.get("user", spec.user_id) is None:
        problems.append(("user_id", f"no user {spec.user_id!r}"))
    routed: set[str] = set()
    for j, route in enumerate(spec.provider_configs):
        path = f"provider_configs[{j}]"
        if route.provider in routed:
            problems.append((f"{path}.provider", f"provider {route.provider!r} is listed twice"))
        routed.add(route.provider)
        provider = state.get("provider", route.provider)
        if provider is None:
            problems.append((f"{path}.provider", f"no provider {route.provider!r}"))
            continue
        known = {k["id"] for k in provider["keys"]}
        for m, key_id in enumerate(route.key_ids):
            if key_id != "*" and key_id not in known:
                problems.append(
                    (f"{path}.key_ids[{m}]", f"provider {route.provider!r} has no key {key_id!r}")
                )
    if problems:
        raise ConfigError(problems)
    prior = state.get("virtual_key", spec.id)
    return normalise.virtual_key(spec, prior, now, generated, "(root)")


# --- deletion ---------------------------------------------------------------------------


def dependents(state: GovernanceState, kind: str, entity_id: str) -> list[tuple[str, str]]:
    """What a deletion would orphan: (kind, id) pairs, keys first."""
    keys = state.live("virtual_key")
    if kind == "team":
        return [("virtual_key", k) for k, d in sorted(keys.items()) if d["team_id"] == entity_id]
    if kind == "customer":
        teams = sorted(t for t, d in state.live("team").items() if d["customer_id"] == entity_id)
        owned = [
            ("virtual_key", k)
            for k, d in sorted(keys.items())
            if d["customer_id"] == entity_id or d["team_id"] in teams
        ]
        return owned + [("team", t) for t in teams]
    if kind == "provider":
        return [
            ("virtual_key", k)
            for k, d in sorted(keys.items())
            if any(r["provider"] == entity_id for r in d["provider_configs"])
        ]
    if kind == "role":
        tokens = state.live("admin_token")
        return [("admin_token", t) for t, d in sorted(tokens.items()) if d["role"] == entity_id]
    return []


CASCADES = ("team", "customer")


def delete(
    state: GovernanceState,
    kind: str,
    entity_id: str,
    author: Author,
    now: datetime,
    expected: int | None = None,
    cascade: bool = False,
) -> list[ev.EntityEvent]:
    """Delete an entity; what it owns too if `cascade` (teams and customers only)."""
    data = current(state, kind, entity_id, expected)
    owned = dependents(state, kind, entity_id)
    if owned and not (cascade and kind in CASCADES):
        names = ", ".join(f"{k.replace('_', ' ')} {i}" for k, i in owned)
        hint = " (or pass cascade=true)" if kind in CASCADES else ""
        raise StillInUseError(
            f"{kind.replace('_', ' ')} {entity_id!r} is still used by {names}{hint}", owned
        )
    events = [event(state, k, "deleted", i, state.get(k, i) or {}, author, now) for k, i in owned]
    return [*events, event(state, kind, "deleted", entity_id, data, author, now)]


# --- virtual keys and admin tokens ------------------------------------------------------


def rotate(
    state: GovernanceState,
    key_id: str,
    new_value: str,
    grace_seconds: int,
    author: Author,
    now: datetime,
    expected: int | None = None,
) -> ev.EntityEvent:
    """Give a key a new value; the old one stays valid for `grace_seconds` (0: not at all)."""
    data = current(state, "virtual_key", key_id, expected)
    retired = [old for old in data.get("retired", []) if datetime.fromisoformat(old["until"]) > now]
    if grace_seconds > 0:
        until = now + timedelta(seconds=grace_seconds)
        retired.append(
            {
                "value_hash": data["value_hash"],
                "value_prefix": data["value_prefix"],
                "until": until.isoformat(),
            }
        )
    after = {
        **data,
        "value_hash": hash_secret(new_value),
        "value_prefix": display_prefix(new_value),
        "retired": retired,
    }
    return event(state, "virtual_key", "rotated", key_id, after, author, now)


def issue_token(
    state: GovernanceState, name: str, role: str, value: str, author: Author, now: datetime
) -> ev.EntityEvent:
    """Issue an admin token with a role; only its hash and prefix are kept."""
    check_absent(state, "admin_token", name)
    if not role_exists(state, role):
        raise ConfigError([("role", f"no role {role!r}")])
    data = {
        "name": name,
        "role": role,
        "token_hash": hash_secret(value),
        "token_prefix": display_prefix(value),
        "issued_at": now.isoformat(),
    }
    return event(state, "admin_token", "created", name, data, author, now)
