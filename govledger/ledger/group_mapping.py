"""What an identity provider's claims mean here: the groups, the role (highest wins), teams.

Pure: claims and the state in, a `Mapping` out. Microsoft Entra ID's group overage (the
token names `_claim_names.groups` or `hasgroups` instead of listing them) is detected and
refused with a reason the operator can act on (docs/identity.md).
"""

from __future__ import annotations

from collections.abc import Mapping as Claims
from dataclasses import dataclass
from typing import Any

from govledger.ledger.entities import GovernanceState
from govledger.ledger.role_rank import highest_role
from govledger.ledger.sso import IdentityProviderSpec


class MappingRefused(ValueError):
    """The claims give no access; `reason` is the machine code, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Mapping:
    """The user's groups, the role they get, and the teams mapped from their groups."""

    groups: tuple[str, ...]
    role: str
    teams: tuple[str, ...]
    creates: tuple[tuple[str, str], ...]  # (team, group) to create when missing


def groups_of(claims: Claims[str, Any], provider: IdentityProviderSpec) -> tuple[str, ...]:
    """The groups the claims carry, or MappingRefused for an overage or a bad claim."""
    name = provider.groups_claim
    names = claims.get("_claim_names")
    if claims.get("hasgroups") or (isinstance(names, dict) and name in names):
        raise MappingRefused(
            "groups_overage",
            "the token has too many groups to list them (Entra ID group overage): configure"
            " app roles or a group filter on the application (docs/identity.md)",
        )
    value = claims.get(name)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
        raise MappingRefused("groups_claim_invalid", f"claim {name!r} is not a list of names")
    return tuple(sorted(set(value)))


def map_claims(
    state: GovernanceState, provider: IdentityProviderSpec, claims: Claims[str, Any]
) -> Mapping:
    """The mapping of one user's claims, or MappingRefused naming why they get no access."""
    groups = groups_of(claims, provider)
    mapped = [provider.role_mappings[g] for g in groups if g in provider.role_mappings]
    role = highest_role(state, mapped)
    if role is None:
        role = provider.default_role
    if role is None:
        if provider.groups_claim not in claims:
            raise MappingRefused(
                "groups_claim_missing",
                f"the token has no {provider.groups_claim!r} claim and no default_role is set",
            )
        raise MappingRefused(
            "no_mapped_group", "none of the user's groups maps to a role and no default_role"
        )
    teams = sorted({m.team for m in provider.team_mappings if m.group in groups})
    creates = sorted(
        {(m.team, m.group) for m in provider.team_mappings if m.group in groups and m.create}
    )
    return Mapping(groups, role, tuple(teams), tuple(creates))
