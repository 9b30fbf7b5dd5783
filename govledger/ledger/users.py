"""Users as entities: synchronised from sign-in claims or SCIM, every change an event.

A user's data: `personal` (user name, e-mail, display name: the only personal fields, kept
together so they can be sealed per subject), `active`, `idp` (the provider or `scim`),
`groups`, `teams`, `role`, `external_id`. Membership changes are `UserJoinedTeam` and
`UserLeftTeam`, so who was in which team at T is a replay of the user's stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from govledger.ledger import events as ev
from govledger.ledger.commands import Author, NotFoundError, team_data
from govledger.ledger.config import TeamSpec
from govledger.ledger.entities import GovernanceState, stream_id

KIND = "user"
PERSONAL_FIELDS = ("user_name", "email", "display_name", "given_name", "family_name")


@dataclass(frozen=True)
class Profile:
    """What a source says about a user now (None: the source does not say, keep the old)."""

    personal: dict[str, str]
    groups: tuple[str, ...] | None = None
    teams: tuple[str, ...] | None = None
    role: str | None = None
    active: bool = True
    external_id: str | None = None


def _user_event(
    cls: type[ev.EntityEvent],
    user_id: str,
    version: int,
    data: dict[str, Any],
    author: Author,
    now: datetime,
    managed_by: str,
    **extra: Any,
) -> ev.EntityEvent:
    return cls(
        originator_id=stream_id(KIND, user_id),
        originator_version=version,
        timestamp=now,
        actor=author.actor,
        source=author.source,
        entity_id=user_id,
        data=data,
        managed_by=managed_by,
        **extra,
    )


def sync_user(
    state: GovernanceState,
    user_id: str,
    idp: str,
    profile: Profile,
    author: Author,
    now: datetime,
    create_teams: tuple[tuple[str, str], ...] = (),
) -> list[ev.EntityEvent]:
    """The events that bring a user (and the teams mapped to create) to `profile`; none if
    nothing changed. Teams that do not exist are skipped unless listed in `create_teams`."""
    events: list[ev.EntityEvent] = []
    for team, name in create_teams:
        if state.get("team", team) is None:
            spec = TeamSpec(id=team, name=name)
            events.append(
                ev.TeamCreated(
                    originator_id=stream_id("team", team),
                    originator_version=state.version("team", team) + 1,
                    timestamp=now,
                    actor=author.actor,
                    source=author.source,
                    entity_id=team,
                    data=team_data(state, spec, now),
                    managed_by=author.source,
                )
            )
    made = {e.entity_id for e in events}
    prior = state.get(KIND, user_id)
    version = state.version(KIND, user_id)
    manager = state.manager(KIND, user_id) or author.source
    old_teams: list[str] = list(prior["teams"]) if prior else []
    wanted = old_teams if profile.teams is None else list(profile.teams)
    teams = sorted(t for t in wanted if t in made or state.get("team", t) is not None)
    base = {
        **(prior or {"budgets": [], "rate_limit": None}),  # limits set through the API stay
        "personal": {k: profile.personal.get(k, "") for k in PERSONAL_FIELDS},
        "active": profile.active,
        "idp": idp,
        "groups": list(profile.groups) if profile.groups is not None else _old(prior, "groups"),
        "role": profile.role if profile.role is not None else (prior or {}).get("role"),
        "external_id": profile.external_id or (prior or {}).get("external_id"),
        "teams": old_teams,
    }
    if prior is None:
        version += 1
        events.append(_user_event(ev.UserCreated, user_id, version, base, author, now, manager))
    elif prior != base:
        version += 1
        events.append(_user_event(ev.UserUpdated, user_id, version, base, author, now, manager))
    current = list(old_teams)
    for team in sorted(set(teams) - set(old_teams)):
        current = sorted({*current, team})
        version += 1
        data = {**base, "teams": current}
        events.append(
            _user_event(
                ev.UserJoinedTeam, user_id, version, data, author, now, manager, team_id=team
            )
        )
    for team in sorted(set(old_teams) - set(teams)):
        current = [t for t in current if t != team]
        version += 1
        data = {**base, "teams": current}
        events.append(
            _user_event(ev.UserLeftTeam, user_id, version, data, author, now, manager, team_id=team)
        )
    return events


def find_user(state: GovernanceState, *names: str | None) -> str | None:
    """The id of the user whose id or `external_id` is one of `names` (SCIM and sign-in
    name the same person: Okta's SCIM externalId is the OIDC subject, Entra's the `oid`)."""
    wanted = {n for n in names if n}
    users = state.live(KIND)
    for name in sorted(wanted):
        if name in users:
            return name
    return next((u for u, d in sorted(users.items()) if d.get("external_id") in wanted), None)


def set_limits(
    state: GovernanceState,
    user_id: str,
    budgets: list[dict[str, Any]],
    rate_limit: dict[str, Any] | None,
    author: Author,
    now: datetime,
) -> ev.EntityEvent:
    """The event that sets a user's own budgets and rate limit (normalised data)."""
    prior = state.get(KIND, user_id)
    if prior is None:
        raise NotFoundError(f"no user {user_id!r}")
    data = {**prior, "budgets": budgets, "rate_limit": rate_limit}
    version = state.version(KIND, user_id) + 1
    manager = state.manager(KIND, user_id) or author.source
    return _user_event(ev.UserUpdated, user_id, version, data, author, now, manager)


def _old(prior: dict[str, Any] | None, name: str) -> list[str]:
    return list(prior[name]) if prior else []


def deactivate(
    state: GovernanceState, user_id: str, author: Author, now: datetime
) -> list[ev.EntityEvent]:
    """The event that marks a live user inactive (none if already inactive or unknown)."""
    prior = state.get(KIND, user_id)
    if prior is None or not prior["active"]:
        return []
    data = {**prior, "active": False}
    version = state.version(KIND, user_id) + 1
    manager = state.manager(KIND, user_id) or author.source
    return [_user_event(ev.UserUpdated, user_id, version, data, author, now, manager)]


def membership_at(events: list[ev.LedgerEvent], team_id: str, at: datetime) -> list[str]:
    """The users in a team at `at`, replayed from the log (users' events only)."""
    state = GovernanceState()
    for event in events:
        if isinstance(event, ev.EntityEvent) and event.timestamp <= at:
            state.apply(event)
    return sorted(u for u, data in state.live(KIND).items() if team_id in data["teams"])
