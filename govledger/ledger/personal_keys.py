"""Personal keys: what a signed-in user may ask for their own key, within their team's rules.

Pure: the request, the team's `personal_keys` rules, the user's live keys and the instant in;
a `VirtualKeySpec` (owned by the user, in the team) or the problems naming each field out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import Field

from govledger.ledger.config import ConfigError, PersonalKeysSpec, Spec, VirtualKeySpec
from govledger.ledger.entities import GovernanceState


class PersonalKeyRequest(Spec):
    """A member's request for a key of their own."""

    name: str = Field(min_length=1, max_length=200)
    team_id: str | None = Field(default=None, description="needed when in several such teams")
    models: list[str] | None = Field(default=None, description="within the team's models")
    budget: Decimal | None = Field(default=None, ge=0, description="USD; the team's at most")
    expires_at: datetime | None = Field(default=None, description="the team's max_days at most")


def teams_with_rules(state: GovernanceState, user: dict[str, Any]) -> list[str]:
    """The user's teams that allow personal keys."""
    return [t for t in user["teams"] if (state.get("team", t) or {}).get("personal_keys")]


def keys_of(state: GovernanceState, user_id: str) -> list[str]:
    """The ids of the user's live keys."""
    return sorted(k for k, d in state.live("virtual_key").items() if d.get("user_id") == user_id)


def personal_key_spec(
    state: GovernanceState,
    user_id: str,
    key_id: str,
    request: PersonalKeyRequest,
    now: datetime,
) -> VirtualKeySpec:
    """The key to issue, or ConfigError naming what the team's rules refuse."""
    user = state.get("user", user_id)
    if user is None or not user["active"]:
        raise ConfigError([("user", "the user is unknown or deactivated")])
    allowed = teams_with_rules(state, user)
    team_id = request.team_id or (allowed[0] if len(allowed) == 1 else None)
    if team_id is None or team_id not in allowed:
        which = ", ".join(allowed) or "none"
        raise ConfigError([("team_id", f"one of your teams that allows personal keys: {which}")])
    rules = PersonalKeysSpec.model_validate(state.get("team", team_id)["personal_keys"])  # type: ignore[index]
    problems: list[tuple[str, str]] = []
    models = request.models or list(rules.models)
    if "*" not in rules.models:
        problems += [
            (f"models[{i}]", f"{m!r} is not allowed by team {team_id!r}")
            for i, m in enumerate(models)
            if m not in rules.models
        ]
    budget = rules.max_budget if request.budget is None else request.budget
    if budget > rules.max_budget:
        problems.append(("budget", f"at most {rules.max_budget} USD in team {team_id!r}"))
    latest = now + timedelta(days=rules.max_days)
    expires = request.expires_at or latest
    if expires.tzinfo is None or expires > latest or expires <= now:
        problems.append(("expires_at", f"a time zone, after now, by {latest.isoformat()}"))
    if len(keys_of(state, user_id)) >= rules.max_keys:
        problems.append(("name", f"you have {rules.max_keys} keys, the most team allows"))
    if problems:
        raise ConfigError(problems)
    return VirtualKeySpec.model_validate(
        {
            "id": key_id,
            "name": request.name,
            "team_id": team_id,
            "user_id": user_id,
            "expires_at": expires,
            "provider_configs": [
                {"provider": p, "allowed_models": models} for p in rules.providers
            ],
            "budgets": [{"max_limit": budget, "reset_duration": rules.budget_duration}],
        }
    )
