"""Users synced from a profile: created once, updated on change, teams joined and left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from govledger.ledger import events as ev
from govledger.ledger.commands import Author
from govledger.ledger.config import TeamSpec
from govledger.ledger.entities import GovernanceState, stream_id
from govledger.ledger.normalise import team
from govledger.ledger.users import Profile, deactivate, find_user, membership_at, sync_user

T0 = datetime(2026, 12, 2, tzinfo=UTC)
SSO = Author("user:u1", "sso")
TEAMS = ("a", "b", "c")


def with_teams() -> tuple[GovernanceState, list[ev.LedgerEvent]]:
    state, log = GovernanceState(), list[ev.LedgerEvent]()
    for name in TEAMS:
        made = ev.TeamCreated(
            originator_id=stream_id("team", name),
            originator_version=1,
            timestamp=T0,
            actor="system",
            source="config",
            entity_id=name,
            data=team(TeamSpec(id=name, name=name), None, T0),
        )
        state.apply(made)
        log.append(made)
    return state, log


def profile(teams: tuple[str, ...], email: str = "u@example.com") -> Profile:
    return Profile(personal={"user_name": "u", "email": email}, teams=teams, role="Viewer")


def apply(state: GovernanceState, log: list[ev.LedgerEvent], events: list[ev.EntityEvent]) -> None:
    for event in events:
        state.apply(event)
        log.append(event)


def test_a_first_sync_creates_the_user_and_joins_each_team() -> None:
    state, _ = with_teams()
    events = sync_user(state, "u1", "okta", profile(("a", "b")), SSO, T0)
    assert [type(e) for e in events] == [ev.UserCreated, ev.UserJoinedTeam, ev.UserJoinedTeam]
    assert [e.originator_version for e in events] == [1, 2, 3]
    assert events[0].data["personal"]["email"] == "u@example.com"
    assert events[-1].data["teams"] == ["a", "b"]


def test_a_sync_without_change_appends_nothing() -> None:
    state, log = with_teams()
    apply(state, log, sync_user(state, "u1", "okta", profile(("a",)), SSO, T0))
    assert sync_user(state, "u1", "okta", profile(("a",)), SSO, T0) == []


def test_mapped_teams_are_created_only_when_asked_and_missing() -> None:
    state, _ = with_teams()
    events = sync_user(state, "u1", "okta", profile(("a", "new")), SSO, T0, (("new", "New"),))
    assert isinstance(events[0], ev.TeamCreated)
    assert events[0].entity_id == "new"
    skipped = sync_user(state, "u2", "okta", profile(("ghost",)), SSO, T0)
    assert [type(e) for e in skipped] == [ev.UserCreated]


def test_deactivating_keeps_the_rest_and_twice_is_nothing() -> None:
    state, log = with_teams()
    apply(state, log, sync_user(state, "u1", "okta", profile(("a",)), SSO, T0))
    [off] = deactivate(state, "u1", SSO, T0)
    state.apply(off)
    assert off.data["active"] is False and off.data["teams"] == ["a"]
    assert deactivate(state, "u1", SSO, T0) == []


def test_a_user_is_found_by_id_or_external_id() -> None:
    state, log = with_teams()
    apply(
        state,
        log,
        sync_user(
            state,
            "scim-1",
            "scim",
            Profile(personal={"user_name": "u"}, external_id="00u-okta"),
            SSO,
            T0,
        ),
    )
    assert find_user(state, "00u-okta") == "scim-1"
    assert find_user(state, "scim-1") == "scim-1"
    assert find_user(state, "other", None) is None


@given(st.lists(st.sets(st.sampled_from(TEAMS)), min_size=1, max_size=6))
def test_membership_at_any_instant_replays_what_the_syncs_said(steps: list[set[str]]) -> None:
    state, log = with_teams()
    for i, teams in enumerate(steps):
        at = T0 + timedelta(hours=i + 1)
        apply(state, log, sync_user(state, "u1", "okta", profile(tuple(sorted(teams))), SSO, at))
    for i, teams in enumerate(steps):
        at = T0 + timedelta(hours=i + 1)
        for name in TEAMS:
            assert ("u1" in membership_at(log, name, at)) == (name in teams)
