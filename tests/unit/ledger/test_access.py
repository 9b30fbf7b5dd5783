"""Permissions and roles: built-in roles as the issue defines them, custom roles validated."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from govledger.ledger.access import BUILTIN_ROLES, RoleSpec, permissions_of
from govledger.ledger.config import describe_errors
from govledger.ledger.entities import GovernanceState


def test_admin_may_do_everything_and_viewer_only_read() -> None:
    assert (
        "admin_tokens:create" in BUILTIN_ROLES["Admin"] and "roles:delete" in BUILTIN_ROLES["Admin"]
    )
    assert all(p.endswith(":view") for p in BUILTIN_ROLES["Viewer"])
    assert "virtual_keys:view" in BUILTIN_ROLES["Viewer"]


def test_a_developer_manages_entities_and_reads_usage_but_not_roles_or_tokens() -> None:
    developer = BUILTIN_ROLES["Developer"]

    assert {"teams:create", "virtual_keys:delete", "providers:update"} <= developer
    assert {"budgets:view", "audit:view", "reports:view"} <= developer
    assert not {p for p in developer if p.startswith(("roles:", "admin_tokens:"))}


def test_an_unknown_permission_is_refused_naming_its_index() -> None:
    with pytest.raises(ValidationError) as caught:
        RoleSpec.model_validate({"name": "r", "permissions": ["teams:view", "teams:fly"]})

    [(path, message)] = describe_errors(caught.value.errors())
    assert path == "permissions[1]"
    assert "unknown operation 'fly'" in message


def test_a_custom_role_cannot_take_a_builtin_name() -> None:
    with pytest.raises(ValidationError, match="built-in role"):
        RoleSpec(name="Admin", permissions=[])


def test_a_deleted_or_missing_custom_role_grants_nothing() -> None:
    assert permissions_of(GovernanceState(), "gone") == frozenset()
