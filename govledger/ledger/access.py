"""Who may do what in the management plane: permissions, built-in roles, custom roles.

A permission is `resource:operation`. The built-in roles are constants of the code (so a
ledger can never lose its Admin); custom roles are entities folded from Role* events.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, field_validator

from govledger.ledger.config import IDENTIFIER, Spec
from govledger.ledger.entities import GovernanceState

RESOURCES = (
    "customers",
    "teams",
    "virtual_keys",
    "providers",
    "budgets",
    "audit",
    "reports",
    "roles",
    "admin_tokens",
    "guardrails",
    "subjects",  # erasure of personal data (subjects:delete); Admin only
)
OPERATIONS = ("view", "create", "update", "delete")
GOVERNED = ("customers", "teams", "virtual_keys", "providers")
READ_ONLY = ("budgets", "audit", "reports")

ALL = frozenset(f"{r}:{o}" for r in RESOURCES for o in OPERATIONS)
BUILTIN_ROLES: dict[str, frozenset[str]] = {
    "Admin": ALL,
    "Developer": frozenset(
        [f"{r}:{o}" for r in GOVERNED for o in OPERATIONS] + [f"{r}:view" for r in READ_ONLY]
    ),
    "Viewer": frozenset(f"{r}:view" for r in GOVERNED + READ_ONLY),
}


def check_permission(value: str) -> str:
    """Return a permission if it names a known resource and operation, else raise."""
    resource, _, operation = value.partition(":")
    if resource not in RESOURCES:
        raise ValueError(f"unknown resource {resource!r}: one of {', '.join(RESOURCES)}")
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}: one of {', '.join(OPERATIONS)}")
    return value


class RoleSpec(Spec):
    """A custom role: a name and its permissions."""

    name: str = Field(pattern=IDENTIFIER)
    permissions: list[Annotated[str, AfterValidator(check_permission)]] = Field(
        default_factory=list
    )
    rank: int | None = Field(
        default=None, ge=0, le=1000, description="orders roles mapped to one user (Admin 300)"
    )

    @field_validator("name")
    @classmethod
    def _not_builtin(cls, value: str) -> str:
        if value in BUILTIN_ROLES:
            raise ValueError(f"{value!r} is a built-in role")
        return value

    @field_validator("permissions")
    @classmethod
    def _sorted(cls, values: list[str]) -> list[str]:
        return sorted(set(values))


class TokenSpec(Spec):
    """An admin token to issue: its name (also its id) and its role."""

    name: str = Field(pattern=IDENTIFIER)
    role: str = Field(min_length=1)


def role_exists(state: GovernanceState, role: str) -> bool:
    """True for a built-in role or a live custom one."""
    return role in BUILTIN_ROLES or state.get("role", role) is not None


def permissions_of(state: GovernanceState, role: str) -> frozenset[str]:
    """The permissions a role grants now (none for a role that was deleted)."""
    if role in BUILTIN_ROLES:
        return BUILTIN_ROLES[role]
    data = state.get("role", role)
    return frozenset() if data is None else frozenset(data["permissions"])
