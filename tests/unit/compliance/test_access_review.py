"""The access review at an instant equals a replay of the events up to it, computed here by
an independent model (each entity is what its last event at or before the instant says),
over random histories of tokens, roles, keys and teams; the changes of a period account for
every subject that came or went."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from govledger.compliance.access_review import changes_between, review_at
from govledger.ledger import events as ev
from govledger.ledger.access import BUILTIN_ROLES
from govledger.ledger.entities import EVENT_FOR, stream_id

T0 = datetime(2026, 3, 1, tzinfo=UTC)
IDS = ["a", "b", "c"]
PERMISSIONS = ["teams:view", "reports:view", "roles:update", "audit:view"]

step = st.tuples(
    st.sampled_from(["admin_token", "virtual_key", "team", "role"]),
    st.sampled_from(["created", "updated", "deleted"]),
    st.sampled_from(IDS),
    st.integers(min_value=0, max_value=3),  # the choice of data
    st.integers(min_value=1, max_value=90),  # minutes since the previous event
)


def data_of(kind: str, entity_id: str, choice: int) -> dict[str, Any]:
    """Entity data for a kind, varied by `choice`."""
    if kind == "admin_token":
        roles = ["Admin", "Viewer", "custom-a", "custom-b"]
        return {"name": entity_id, "role": roles[choice], "token_hash": "h" + entity_id}
    if kind == "virtual_key":
        return {
            "name": entity_id,
            "value_hash": "v" + entity_id,
            "team_id": IDS[choice % 3],
            "customer_id": None,
            "is_active": choice != 3,
            "expires_at": None if choice < 2 else "2027-01-01T00:00:00+00:00",
        }
    if kind == "team":
        return {"name": entity_id, "customer_id": ["c1", "c2", None, "c1"][choice]}
    return {"name": "custom-" + entity_id, "permissions": PERMISSIONS[: choice + 1]}


def history(steps: list[tuple[str, str, str, int, int]]) -> list[ev.EntityEvent]:
    """Valid events for the steps (creates of absent entities, updates and deletes of live
    ones; roles are named custom-<id>); the others are skipped."""
    live: dict[tuple[str, str], bool] = {}
    version: dict[tuple[str, str], int] = {}
    now = T0
    events: list[ev.EntityEvent] = []
    for kind, action, short, choice, gap in steps:
        entity_id = "custom-" + short if kind == "role" else short
        key = (kind, entity_id)
        if live.get(key, False) == (action == "created"):
            continue
        if kind == "admin_token" and action == "updated":
            action = "deleted"  # tokens are issued and revoked, never edited
        now += timedelta(minutes=gap)
        version[key] = version.get(key, 0) + 1
        live[key] = action != "deleted"
        events.append(
            EVENT_FOR[(kind, action)](
                originator_id=stream_id(kind, entity_id),
                originator_version=version[key],
                timestamp=now,
                actor=f"actor-{choice}",
                source=["api", "cli", "config", "ui"][choice],
                entity_id=entity_id,
                data=data_of(kind, short, choice),
            )
        )
    return events


def model(events: list[ev.EntityEvent], at: datetime) -> dict[tuple[str, str], Any]:
    """Each live subject's role/permissions/team at `at`, from its last event up to then."""
    last: dict[tuple[str, str], ev.EntityEvent] = {}
    for event in events:
        if event.timestamp <= at:
            kinds = {"Token": "admin_token", "Key": "virtual_key", "Team": "team", "Role": "role"}
            name = type(event).__name__
            found = next(v for k, v in kinds.items() if k in name)
            last[(found, event.entity_id)] = event
    live = {
        k: e.data for k, e in last.items() if not type(e).__name__.endswith(("Deleted", "Revoked"))
    }

    def perms(role: str) -> list[str]:
        if role in BUILTIN_ROLES:
            return sorted(BUILTIN_ROLES[role])
        return sorted(live.get(("role", role), {}).get("permissions", []))

    out: dict[tuple[str, str], Any] = {}
    for (kind, entity_id), data in live.items():
        if kind == "admin_token":
            out[(kind, entity_id)] = (data["role"], perms(data["role"]))
        elif kind == "virtual_key":
            out[(kind, entity_id)] = (data["team_id"], data["is_active"], data["expires_at"])
        elif kind == "team":
            out[(kind, entity_id)] = data["customer_id"]
        else:
            out[(kind, entity_id)] = sorted(data["permissions"])
    return out


def reviewed(events: list[ev.EntityEvent], at: datetime) -> dict[tuple[str, str], Any]:
    """The review's rows in the model's terms."""
    out: dict[tuple[str, str], Any] = {}
    for row in review_at(events, at).subjects:
        kind, entity_id = row["subject_type"], row["subject_id"]
        if kind == "admin_token":
            out[(kind, entity_id)] = (row["role"], row["permissions"])
        elif kind == "virtual_key":
            active = row["status"] == "active"
            out[(kind, entity_id)] = (row["team_id"], active, row["expires_at"])
        elif kind == "team":
            out[(kind, entity_id)] = row["customer_id"]
        else:
            out[(kind, entity_id)] = row["permissions"]
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(step, max_size=40), st.integers(min_value=0, max_value=40 * 90))
def test_the_review_at_an_instant_equals_a_replay_up_to_it(steps: Any, minutes: int) -> None:
    events = history(steps)
    at = T0 + timedelta(minutes=minutes)
    assert reviewed(events, at) == model(events, at)
    assert review_at(events, at).identities == ()  # these histories have no users


@settings(max_examples=150, deadline=None)
@given(
    st.lists(step, max_size=40),
    st.integers(min_value=0, max_value=40 * 90),
    st.integers(min_value=0, max_value=40 * 90),
)
def test_the_changes_of_a_period_lead_from_one_review_to_the_next(
    steps: Any, one: int, two: int
) -> None:
    events = history(steps)
    start, end = sorted([T0 + timedelta(minutes=one), T0 + timedelta(minutes=two)])
    before = reviewed(events, start - timedelta(microseconds=1))
    after = reviewed(events, end - timedelta(microseconds=1))
    subjects = set(before)
    for row in changes_between(events, start, end):
        assert start <= datetime.fromisoformat(row["at"]) < end
        subject = (row["subject_type"], row["subject_id"])
        if row["after"] is None:
            subjects.discard(subject)
        elif row["before"] is None:
            subjects.add(subject)
    assert subjects == set(after)
    actors = {(c["actor"], c["source"]) for c in changes_between(events, start, end)}
    inside = [e for e in events if start <= e.timestamp < end]
    assert actors == {(e.actor, e.source) for e in inside}


def test_a_role_change_names_the_permissions_added_and_removed() -> None:
    events = history([("role", "created", "a", 0, 1), ("role", "updated", "a", 2, 1)])
    [change] = changes_between(events, T0 + timedelta(minutes=2), T0 + timedelta(days=1))
    assert change["change"] == "role_change"
    assert change["detail"] == "added ['reports:view', 'roles:update'], removed []"
    assert (change["actor"], change["source"]) == ("actor-2", "config")


def user_event(
    cls: type[ev.EntityEvent], version: int, minutes: int, data: dict[str, Any]
) -> ev.EntityEvent:
    """One event of user u-1 (a SCIM identity)."""
    return cls(
        originator_id=stream_id("user", "u-1"),
        originator_version=version,
        timestamp=T0 + timedelta(minutes=minutes),
        actor="token:scim",
        source="scim",
        entity_id="u-1",
        data=data,
        managed_by="scim",
    )


def test_users_are_reviewed_with_their_role_teams_and_identity_provider() -> None:
    base = {
        "personal": {"user_name": "ann@example.com"},
        "active": True,
        "idp": "scim",
        "role": "Viewer",
        "teams": [],
    }
    events = [
        user_event(ev.UserCreated, 1, 1, base),
        user_event(ev.UserJoinedTeam, 2, 2, {**base, "teams": ["t-1"]}),
        user_event(ev.UserUpdated, 3, 3, {**base, "teams": ["t-1"], "role": "Developer"}),
        user_event(
            ev.UserUpdated, 4, 4, {**base, "teams": ["t-1"], "role": "Developer", "active": False}
        ),
    ]
    [row] = review_at(events, T0 + timedelta(minutes=2)).identities
    changes = changes_between(events, T0, T0 + timedelta(minutes=5))
    last = review_at(events, T0 + timedelta(minutes=5)).subjects[-1]

    assert (row["subject_type"], row["name"], row["idp"], row["teams"]) == (
        "user",
        "ann@example.com",
        "scim",
        ["t-1"],
    )
    assert row["role"] == "Viewer" and row["permissions"] == sorted(BUILTIN_ROLES["Viewer"])
    assert [(c["change"], c["detail"]) for c in changes] == [
        ("grant", "role Viewer, teams []"),
        ("grant", "teams joined ['t-1'], left []"),
        ("role_change", "role Viewer -> Developer"),
        ("revocation", "deactivated"),
    ]
    assert last["status"] == "inactive" and last["role"] == "Developer"
