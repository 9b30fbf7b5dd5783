"""Who had what access at an instant, and what changed between two: pure folds of the
governance events (never of the current state), so any past instant is a replay away.

Subjects are admin tokens (role and the permissions that role granted then), virtual keys
(team, customer, status, expiry), teams, custom roles, and users (role, its permissions,
teams, active, and the identity provider that manages them: an OIDC issuer, or `scim` for a
SCIM identity). `AccessReview.identities` holds the users' rows. A user's name is their
`personal.user_name` when the events are opened (`erased` once they are forgotten; the fold
of sealed events shows none).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from govledger.ledger import events as ev
from govledger.ledger.access import BUILTIN_ROLES
from govledger.ledger.entities import GovernanceState, kind_and_action

Row = dict[str, Any]
REVIEWED = ("admin_token", "virtual_key", "team", "role", "user")
REVIEW_COLUMNS = [
    "subject_type",
    "subject_id",
    "name",
    "role",
    "permissions",
    "team_id",
    "customer_id",
    "status",
    "expires_at",
    "managed_by",
    "changed_at",
    "changed_by",
    "teams",
    "idp",
]
CHANGE_COLUMNS = [
    "at",
    "change",
    "subject_type",
    "subject_id",
    "actor",
    "source",
    "detail",
    "before",
    "after",
]


@dataclass
class AccessFold:
    """The governance state folded up to some instant, with who changed each entity last."""

    state: GovernanceState = field(default_factory=GovernanceState)
    last_change: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)

    def apply(self, event: ev.EntityEvent) -> None:
        """Fold one entity event in (in log order)."""
        kind, _ = kind_and_action(event)
        self.state.apply(event)
        self.last_change[(kind, event.entity_id)] = (event.timestamp.isoformat(), event.actor)


@dataclass(frozen=True)
class AccessReview:
    """Every subject's access at `at`, one row per subject; `identities` awaits users/SCIM."""

    at: str
    subjects: tuple[Row, ...]
    identities: tuple[Row, ...] = ()


def entity_events(events: Iterable[ev.LedgerEvent]) -> list[ev.EntityEvent]:
    """The entity events among governance events (denials and alert tries carry no access)."""
    return [e for e in events if isinstance(e, ev.EntityEvent)]


def fold_until(events: Iterable[ev.LedgerEvent], at: datetime) -> AccessFold:
    """The fold of every entity event that happened at or before `at` (log order kept)."""
    fold = AccessFold()
    for event in entity_events(events):
        if event.timestamp <= at:
            fold.apply(event)
    return fold


def role_permissions(state: GovernanceState, role: str) -> list[str]:
    """The permissions a role granted in this state (none for a role that did not exist)."""
    if role in BUILTIN_ROLES:
        return sorted(BUILTIN_ROLES[role])
    data = state.get("role", role)
    return [] if data is None else sorted(data.get("permissions", []))


def subject_row(fold: AccessFold, kind: str, entity_id: str, data: Row) -> Row:
    """One subject's access row."""
    state = fold.state
    changed_at, changed_by = fold.last_change.get((kind, entity_id), ("", ""))
    row: Row = {c: None for c in REVIEW_COLUMNS}
    row.update(
        subject_type=kind,
        subject_id=entity_id,
        name=data.get("name"),
        managed_by=state.manager(kind, entity_id),
        changed_at=changed_at,
        changed_by=changed_by,
    )
    if kind == "admin_token":
        row.update(role=data["role"], permissions=role_permissions(state, data["role"]))
        row["status"] = "active"
    elif kind == "virtual_key":
        row.update(
            team_id=data.get("team_id"),
            customer_id=data.get("customer_id"),
            expires_at=data.get("expires_at"),
            status="active" if data.get("is_active", True) else "disabled",
        )
    elif kind == "team":
        row["customer_id"] = data.get("customer_id")
    elif kind == "role":
        row.update(role=entity_id, permissions=sorted(data.get("permissions", [])))
    elif kind == "user":
        personal = data.get("personal")
        role = data.get("role")
        row.update(
            name=personal.get("user_name") if isinstance(personal, dict) else None,
            role=role,
            permissions=role_permissions(state, role) if role else [],
            teams=sorted(data.get("teams", [])),
            idp=data.get("idp"),
            status="active" if data.get("active", True) else "inactive",
        )
    return row


def review_of(fold: AccessFold, at: datetime) -> AccessReview:
    """The access review of a folded state, subjects ordered by type then id."""
    rows = [
        subject_row(fold, kind, entity_id, data)
        for kind in REVIEWED
        for entity_id, data in sorted(fold.state.live(kind).items())
    ]
    users = tuple(row for row in rows if row["subject_type"] == "user")
    return AccessReview(at=at.isoformat(), subjects=tuple(rows), identities=users)


def review_at(events: Iterable[ev.LedgerEvent], at: datetime) -> AccessReview:
    """Every subject's access as it was at `at`, folded from the events up to it."""
    return review_of(fold_until(events, at), at)


def _access(kind: str, data: Row | None, state: GovernanceState) -> Row | None:
    """The access-relevant part of an entity's data (what a reviewer compares)."""
    if data is None:
        return None
    if kind == "admin_token":
        return {"role": data["role"], "permissions": role_permissions(state, data["role"])}
    if kind == "virtual_key":
        return {
            "team_id": data.get("team_id"),
            "customer_id": data.get("customer_id"),
            "is_active": data.get("is_active", True),
            "expires_at": data.get("expires_at"),
        }
    if kind == "team":
        return {"customer_id": data.get("customer_id")}
    if kind == "user":
        role = data.get("role")
        return {
            "role": role,
            "permissions": role_permissions(state, role) if role else [],
            "teams": sorted(data.get("teams", [])),
            "active": data.get("active", True),
        }
    return {"permissions": sorted(data.get("permissions", []))}


def classify(kind: str, action: str, before: Row | None, after: Row | None) -> tuple[str, str]:
    """(change, detail) of one entity event: grant, revocation, role_change, reassignment,
    rotation or update."""
    if action == "rotated":
        return "rotation", "the key got a new value"
    if before is None and after is not None:
        return "grant", _describe(kind, after)
    if after is None or before is None:
        return "revocation", _describe(kind, before or {})
    if kind in ("admin_token", "user") and before["role"] != after["role"]:
        return "role_change", f"role {before['role']} -> {after['role']}"
    if kind == "user" and before["active"] != after["active"]:
        return ("grant", "activated") if after["active"] else ("revocation", "deactivated")
    if kind == "user" and before["teams"] != after["teams"]:
        joined = sorted(set(after["teams"]) - set(before["teams"]))
        left = sorted(set(before["teams"]) - set(after["teams"]))
        change = "reassignment" if joined and left else "grant" if joined else "revocation"
        return change, f"teams joined {joined or '[]'}, left {left or '[]'}"
    if kind == "role" and before != after:
        added = sorted(set(after["permissions"]) - set(before["permissions"]))
        removed = sorted(set(before["permissions"]) - set(after["permissions"]))
        return "role_change", f"added {added or '[]'}, removed {removed or '[]'}"
    if kind == "virtual_key" and before["is_active"] != after["is_active"]:
        return ("grant", "enabled") if after["is_active"] else ("revocation", "disabled")
    if before != after:
        moved = [f"{k} {before[k]} -> {after[k]}" for k in sorted(after) if before[k] != after[k]]
        return "reassignment", ", ".join(moved)
    return "update", "no change to access"


def _describe(kind: str, access: Row) -> str:
    if kind == "admin_token":
        return f"role {access.get('role')}"
    if kind == "virtual_key":
        return f"team {access.get('team_id')}, customer {access.get('customer_id')}"
    if kind == "team":
        return f"customer {access.get('customer_id')}"
    if kind == "user":
        return f"role {access.get('role')}, teams {access.get('teams')}"
    return f"permissions {access.get('permissions')}"


def changes_between(events: Iterable[ev.LedgerEvent], start: datetime, end: datetime) -> list[Row]:
    """Every change of access in [start, end): who made it, from which source, and what
    the subject could do before and after (a role's change also names its tokens' new
    permissions through their review, not here)."""
    fold = AccessFold()
    found: list[Row] = []
    for event in entity_events(events):
        kind, action = kind_and_action(event)
        if event.timestamp >= end:
            continue  # after the period (a later instance's event may land earlier)
        if kind not in REVIEWED:
            fold.apply(event)
            continue
        before = _access(kind, fold.state.get(kind, event.entity_id), fold.state)
        fold.apply(event)
        after = _access(kind, fold.state.get(kind, event.entity_id), fold.state)
        if event.timestamp < start:
            continue
        change, detail = classify(kind, action, before, after)
        found.append(
            {
                "at": event.timestamp.isoformat(),
                "change": change,
                "subject_type": kind,
                "subject_id": event.entity_id,
                "actor": event.actor,
                "source": event.source,
                "detail": detail,
                "before": before,
                "after": after,
            }
        )
    return found
