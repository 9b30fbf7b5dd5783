"""Which of several roles is the highest: built-in ranks, a custom role's explicit `rank`.

Admin (300) > Developer (200) > Viewer (100). A custom role ranks at its `rank` (0 when it
has none), raised to the rank of every role whose permissions it holds all of: a role that
grants a superset of another's ranks at least as high. Ties go to the name first in order.
"""

from __future__ import annotations

from collections.abc import Iterable

from govledger.ledger.access import BUILTIN_ROLES, permissions_of, role_exists
from govledger.ledger.entities import GovernanceState

BUILTIN_RANKS = {"Admin": 300, "Developer": 200, "Viewer": 100}


def _own_rank(state: GovernanceState, role: str) -> int:
    if role in BUILTIN_RANKS:
        return BUILTIN_RANKS[role]
    data = state.get("role", role) or {}
    return int(data.get("rank") or 0)


def rank_of(state: GovernanceState, role: str) -> int:
    """The effective rank of a role: its own, or that of any role it grants all of."""
    granted = permissions_of(state, role)
    every = list(BUILTIN_ROLES) + sorted(state.live("role"))
    return max(
        [_own_rank(state, role)]
        + [_own_rank(state, other) for other in every if permissions_of(state, other) <= granted]
    )


def highest_role(state: GovernanceState, roles: Iterable[str]) -> str | None:
    """The highest-ranked existing role among `roles`, or None if there is none."""
    known = sorted({r for r in roles if role_exists(state, r)})
    if not known:
        return None
    return max(known, key=lambda r: (rank_of(state, r), len(permissions_of(state, r))))
