"""Governance state: every entity's current data and version, folded from its events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from govledger.ledger import events as ev
from govledger.ledger.credentials import hashes_match

KINDS = (
    "customer",
    "team",
    "provider",
    "virtual_key",
    "settings",
    "admin_token",
    "role",
    "guardrail",
    "user",
    "session",
)
SETTINGS_ID = "gateway"

_KIND_OF: dict[type[ev.EntityEvent], tuple[str, str]] = {
    ev.CustomerCreated: ("customer", "created"),
    ev.CustomerUpdated: ("customer", "updated"),
    ev.CustomerDeleted: ("customer", "deleted"),
    ev.TeamCreated: ("team", "created"),
    ev.TeamUpdated: ("team", "updated"),
    ev.TeamDeleted: ("team", "deleted"),
    ev.ProviderCreated: ("provider", "created"),
    ev.ProviderUpdated: ("provider", "updated"),
    ev.ProviderDeleted: ("provider", "deleted"),
    ev.VirtualKeyCreated: ("virtual_key", "created"),
    ev.VirtualKeyUpdated: ("virtual_key", "updated"),
    ev.VirtualKeyDeleted: ("virtual_key", "deleted"),
    ev.GatewaySettingsChanged: ("settings", "updated"),
    ev.VirtualKeyRotated: ("virtual_key", "rotated"),
    ev.AdminTokenIssued: ("admin_token", "created"),
    ev.AdminTokenRevoked: ("admin_token", "deleted"),
    ev.RoleCreated: ("role", "created"),
    ev.RoleUpdated: ("role", "updated"),
    ev.RoleDeleted: ("role", "deleted"),
    ev.GuardrailCreated: ("guardrail", "created"),
    ev.GuardrailUpdated: ("guardrail", "updated"),
    ev.GuardrailDeleted: ("guardrail", "deleted"),
    ev.UserCreated: ("user", "created"),
    ev.UserUpdated: ("user", "updated"),
    ev.UserDeleted: ("user", "deleted"),
    ev.UserJoinedTeam: ("user", "joined_team"),
    ev.UserLeftTeam: ("user", "left_team"),
    ev.SessionStarted: ("session", "created"),
    ev.SessionEnded: ("session", "deleted"),
}
EVENT_FOR: dict[tuple[str, str], type[ev.EntityEvent]] = {v: k for k, v in _KIND_OF.items()}
EVENT_FOR[("settings", "created")] = ev.GatewaySettingsChanged

_NAMESPACE = uuid5(NAMESPACE_URL, "https://govledger.dev/entity")


def stream_id(kind: str, entity_id: str) -> UUID:
    """Return the stable stream id of one entity."""
    return uuid5(_NAMESPACE, f"{kind}:{entity_id}")


def kind_and_action(event: ev.EntityEvent) -> tuple[str, str]:
    """Return (kind, action) of a governance event, e.g. ("team", "created")."""
    return _KIND_OF[type(event)]


@dataclass(slots=True)
class Entity:
    """One governance entity: its data after the last event, and that event's version."""

    kind: str
    id: str
    version: int
    data: dict[str, Any]
    deleted: bool = False
    managed_by: str = "config"  # config | api | cli | ui | system: see `manager_after`


@dataclass
class GovernanceState:
    """All entities, folded from governance events; deleted ones are kept for their version."""

    entities: dict[tuple[str, str], Entity] = field(default_factory=dict)
    key_by_hash: dict[str, str] = field(default_factory=dict)  # current and retired hashes
    token_by_hash: dict[str, str] = field(default_factory=dict)  # admin tokens
    session_by_hash: dict[str, str] = field(default_factory=dict)  # live sessions
    position: int = 0

    def apply(self, event: ev.EntityEvent) -> None:
        """Fold one event in; reads only the event and the prior state."""
        kind, action = kind_and_action(event)
        prior = self.entities.get((kind, event.entity_id))
        index = {
            "virtual_key": self.key_by_hash,
            "admin_token": self.token_by_hash,
            "session": self.session_by_hash,
        }.get(kind)
        if index is not None and prior is not None:
            for digest in _hashes(prior.data):
                index.pop(digest, None)
        deleted = action == "deleted"
        live_prior = None if prior is None or prior.deleted else prior
        self.entities[(kind, event.entity_id)] = Entity(
            kind,
            event.entity_id,
            event.originator_version,
            event.data,
            deleted,
            manager_after(event, live_prior.managed_by if live_prior else None),
        )
        if index is not None and not deleted:
            for digest in _hashes(event.data):
                index[digest] = event.entity_id

    def accepts(self, key_id: str, digest: str, now: datetime) -> bool:
        """True if `digest` is the key's current hash, or a retired one still in its grace."""
        data = self.get("virtual_key", key_id)
        if data is None:
            return False
        if hashes_match(data.get("value_hash", ""), digest):
            return True
        return any(
            hashes_match(old["value_hash"], digest) and now < datetime.fromisoformat(old["until"])
            for old in data.get("retired", [])
        )

    def get(self, kind: str, entity_id: str) -> dict[str, Any] | None:
        """Return the live data of an entity, or None if absent or deleted."""
        entity = self.entities.get((kind, entity_id))
        return None if entity is None or entity.deleted else entity.data

    def manager(self, kind: str, entity_id: str) -> str | None:
        """Who manages a live entity (config, api, cli, ui, system), or None if not live."""
        entity = self.entities.get((kind, entity_id))
        return None if entity is None or entity.deleted else entity.managed_by

    def version(self, kind: str, entity_id: str) -> int:
        """Return the entity's stream version (0 if it never existed)."""
        entity = self.entities.get((kind, entity_id))
        return 0 if entity is None else entity.version

    def live(self, kind: str) -> dict[str, dict[str, Any]]:
        """Return every live entity of one kind by id."""
        return {e.id: e.data for (k, _), e in self.entities.items() if k == kind and not e.deleted}

    def settings(self) -> dict[str, Any]:
        """Return gateway-wide settings (empty defaults before any were set)."""
        return self.get("settings", SETTINGS_ID) or {
            "pricing_overrides": [],
            "allow_unknown_prices": False,
            "required_headers": {},
            "record_headers": [],
        }


def manager_after(event: ev.EntityEvent, prior: str | None) -> str:
    """Who manages an entity after an event; events written before `managed_by` existed
    are read by their source: `apply` wrote `cli` or `config`, the REST API `api`."""
    if event.managed_by:
        return event.managed_by
    if event.source in ("config", "cli"):
        return "config"
    return prior or event.source


def _hashes(data: dict[str, Any]) -> list[str]:
    """The secret hashes an entity answers to: a key's current and retired ones, a token's,
    a session's."""
    found = [data[name] for name in ("value_hash", "token_hash", "session_hash") if name in data]
    return found + [old["value_hash"] for old in data.get("retired", [])]
