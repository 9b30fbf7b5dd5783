"""The difference between a config file and the ledger, as a plan of entity changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from govledger.ledger import events as ev
from govledger.ledger import normalise
from govledger.ledger.config import ConfigFile
from govledger.ledger.credentials import SecretBox
from govledger.ledger.entities import EVENT_FOR, SETTINGS_ID, GovernanceState, stream_id

Data = dict[str, Any]


@dataclass(frozen=True)
class Change:
    """One entity to create, update or disable."""

    kind: str
    entity_id: str
    action: str  # create | update | disable
    before: Data | None
    after: Data
    fields: tuple[str, ...]
    managed_by: str = "config"  # who manages the entity after the change


@dataclass(frozen=True)
class Unmanaged:
    """A live entity the file does not declare, created by another channel: left alone."""

    kind: str
    entity_id: str
    managed_by: str  # api | cli | ui | system


@dataclass
class Plan:
    """What `apply` will append; `new_key_values` are shown once and never stored."""

    changes: list[Change] = field(default_factory=list)
    new_key_values: dict[str, str] = field(default_factory=dict)
    unmanaged: list[Unmanaged] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        """True when the ledger already matches the file."""
        return not self.changes

    def events(
        self, state: GovernanceState, actor: str, source: str, now: datetime
    ) -> list[ev.EntityEvent]:
        """The events that carry out the plan, versioned after the state's streams."""
        out: list[ev.EntityEvent] = []
        for change in self.changes:
            was_live = state.get(change.kind, change.entity_id) is not None
            action = "updated" if was_live else "created"
            cls = EVENT_FOR[(change.kind, action)]
            out.append(
                cls(
                    originator_id=stream_id(change.kind, change.entity_id),
                    originator_version=state.version(change.kind, change.entity_id) + 1,
                    timestamp=now,
                    actor=actor,
                    source=source,
                    entity_id=change.entity_id,
                    data=change.after,
                    managed_by=change.managed_by,
                )
            )
        return out


def _diff(before: Data | None, after: Data) -> tuple[str, ...]:
    old = normalise.comparable(before) or {}
    new = normalise.comparable(after)
    return tuple(sorted(k for k in new if old.get(k) != new[k]))


def make_plan(
    config: ConfigFile,
    state: GovernanceState,
    box: SecretBox,
    now: datetime,
    generate_key: Callable[[], str],
    prune: bool = False,
) -> Plan:
    """Compare the file with the state; raises ConfigError naming the path of a bad value.

    The file manages what it declares. A key it managed and no longer lists is disabled;
    entities created through the API, CLI or UI are left alone and listed in `unmanaged`,
    unless `prune` disables those keys too (other kinds are never deleted by a file).
    """
    plan = Plan()

    def consider(kind: str, entity_id: str, after: Data) -> None:
        before = state.get(kind, entity_id)
        changed = _diff(before, after)
        if before is None:
            plan.changes.append(Change(kind, entity_id, "create", None, after, changed))
        elif changed or state.manager(kind, entity_id) != "config":  # the file adopts it
            fields = changed or ("managed_by",)
            plan.changes.append(Change(kind, entity_id, "update", before, after, fields))

    for i, provider in enumerate(config.providers):
        prior = state.get("provider", provider.name)
        data = normalise.provider(provider, prior, box, f"providers[{i}]")
        consider("provider", provider.name, data)
    for customer in config.customers:
        prior = state.get("customer", customer.id)
        consider("customer", customer.id, normalise.customer(customer, prior, now))
    for team in config.teams:
        prior = state.get("team", team.id)
        consider("team", team.id, normalise.team(team, prior, now))
    for i, key in enumerate(config.virtual_keys):
        prior = state.get("virtual_key", key.id)
        generated = None
        if key.value is None and prior is None:
            generated = generate_key()
            plan.new_key_values[key.id] = generated
        data = normalise.virtual_key(key, prior, now, generated, f"virtual_keys[{i}]")
        consider("virtual_key", key.id, data)
    for guardrail in config.guardrails:
        consider("guardrail", guardrail.id, guardrail.model_dump(mode="json"))
    declared = {
        "provider": {p.name for p in config.providers},
        "customer": {c.id for c in config.customers},
        "team": {t.id for t in config.teams},
        "virtual_key": {k.id for k in config.virtual_keys},
        "guardrail": {g.id for g in config.guardrails},
    }
    for kind, listed in declared.items():
        for entity_id, data in sorted(state.live(kind).items()):
            manager = state.manager(kind, entity_id) or "config"
            if entity_id in listed:
                continue
            if manager != "config":
                plan.unmanaged.append(Unmanaged(kind, entity_id, manager))
            if kind != "virtual_key" or not data["is_active"]:
                continue
            if manager == "config" or prune:
                after = {**data, "is_active": False}
                plan.changes.append(
                    Change(kind, entity_id, "disable", data, after, ("is_active",), manager)
                )
    settings = {
        "pricing_overrides": [p.model_dump() for p in config.pricing_overrides],
        "allow_unknown_prices": config.allow_unknown_prices,
        "required_headers": {k.lower(): v for k, v in config.required_headers.items()},
        "record_headers": [h.lower() for h in config.record_headers],
        "mcp_clients": [c.model_dump() for c in config.mcp_clients],
    }
    if config.routing != "weighted":  # absent by default: older settings plan no change
        settings["routing"] = config.routing
    if config.sso is not None:  # absent by default, like routing
        settings["sso"] = config.sso.model_dump()
    if config.adaptive is not None:  # likewise
        settings["adaptive"] = config.adaptive.model_dump(exclude_none=True)
    # Absent by default (older settings plan no change), written once it was ever set.
    if config.ledger.durability != "before_response" or "ledger" in state.settings():
        settings["ledger"] = {"durability": config.ledger.durability}
    if _diff(state.settings(), settings) or state.get("settings", SETTINGS_ID) is None:
        before = state.get("settings", SETTINGS_ID)
        action = "create" if before is None else "update"
        plan.changes.append(
            Change("settings", SETTINGS_ID, action, before, settings, _diff(before, settings))
        )
    return plan


def describe(plan: Plan) -> list[str]:
    """Human lines for the plan, one per change, then the entities the file leaves alone."""
    lines = []
    if plan.is_empty:
        lines.append("No changes: the ledger already matches the file.")
    for change in plan.changes:
        detail = "" if change.action == "create" else f" ({', '.join(change.fields)})"
        lines.append(f"{change.action:7} {change.kind} {change.entity_id}{detail}")
    for item in plan.unmanaged:
        lines.append(
            f"not managed by this file: {item.kind} {item.entity_id} (created by {item.managed_by})"
        )
    return lines
