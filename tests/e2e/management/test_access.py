"""Access control: admin tokens, the built-in roles, custom roles, 401 and 403 (recorded)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import RunningGateway
from tests.e2e.management.support import ADMIN, Api, audit_rows, eventually

# Every management endpoint, the permission it needs, and a call that is harmless when
# allowed (an invalid body gives 422, a missing id 404: the permission is checked first).
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("GET", "/api/governance/customers", None, "customers:view"),
    ("POST", "/api/governance/customers", {}, "customers:create"),
    ("GET", "/api/governance/customers/nobody", None, "customers:view"),
    ("PUT", "/api/governance/customers/nobody", {}, "customers:update"),
    ("DELETE", "/api/governance/customers/nobody", None, "customers:delete"),
    ("GET", "/api/governance/teams", None, "teams:view"),
    ("POST", "/api/governance/teams", {"x": 1}, "teams:create"),
    ("GET", "/api/governance/teams/nobody", None, "teams:view"),
    ("PUT", "/api/governance/teams/nobody", {}, "teams:update"),
    ("DELETE", "/api/governance/teams/nobody", None, "teams:delete"),
    ("GET", "/api/governance/virtual-keys", None, "virtual_keys:view"),
    ("POST", "/api/governance/virtual-keys", {}, "virtual_keys:create"),
    ("GET", "/api/governance/virtual-keys/nobody", None, "virtual_keys:view"),
    ("PUT", "/api/governance/virtual-keys/nobody", {}, "virtual_keys:update"),
    ("DELETE", "/api/governance/virtual-keys/nobody", None, "virtual_keys:delete"),
    ("POST", "/api/governance/virtual-keys/nobody/rotate", None, "virtual_keys:update"),
    ("GET", "/api/governance/virtual-keys/nobody/usage", None, "budgets:view"),
    ("GET", "/api/governance/providers", None, "providers:view"),
    ("POST", "/api/governance/providers", {}, "providers:create"),
    ("GET", "/api/governance/providers/nobody", None, "providers:view"),
    ("PUT", "/api/governance/providers/nobody", {}, "providers:update"),
    ("DELETE", "/api/governance/providers/nobody", None, "providers:delete"),
    ("GET", "/api/governance/guardrails", None, "guardrails:view"),
    ("POST", "/api/governance/guardrails", {}, "guardrails:create"),
    ("GET", "/api/governance/guardrails/nobody", None, "guardrails:view"),
    ("PUT", "/api/governance/guardrails/nobody", {}, "guardrails:update"),
    ("DELETE", "/api/governance/guardrails/nobody", None, "guardrails:delete"),
    ("GET", "/api/governance/budgets", None, "budgets:view"),
    ("GET", "/api/governance/rate-limits", None, "budgets:view"),
    ("GET", "/api/audit/events?limit=1", None, "audit:view"),
    ("GET", "/api/audit/requests?limit=1", None, "audit:view"),
    ("GET", "/api/reports/spend?limit=1", None, "reports:view"),
    ("GET", "/api/roles", None, "roles:view"),
    ("POST", "/api/roles", {}, "roles:create"),
    ("GET", "/api/roles/nobody", None, "roles:view"),
    ("PUT", "/api/roles/nobody", {"permissions": []}, "roles:update"),
    ("DELETE", "/api/roles/nobody", None, "roles:delete"),
    ("GET", "/api/admin-tokens", None, "admin_tokens:view"),
    ("POST", "/api/admin-tokens", {}, "admin_tokens:create"),
    ("DELETE", "/api/admin-tokens/nobody", None, "admin_tokens:delete"),
]
READ = {"customers", "teams", "virtual_keys", "providers", "budgets", "audit", "reports"}
MANAGED = {"customers", "teams", "virtual_keys", "providers"}


def allowed_to(role: str, permission: str) -> bool:
    """The issue's definition of the built-in roles."""
    resource, operation = permission.split(":")
    if role == "Admin":
        return True
    if role == "Developer":
        return resource in MANAGED or (resource in READ and operation == "view")
    return resource in READ and operation == "view"


def token_for(api: Api, name: str, role: str) -> str:
    """Issue a token with the Admin token and return its value."""
    issued = api.post("/api/admin-tokens", {"name": name, "role": role})
    assert issued.status == 201, issued.text
    return issued.json["token"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("role", ["Admin", "Developer", "Viewer"])
def test_each_builtin_role_gets_exactly_its_permissions(api: Api, role: str) -> None:
    caller = api.as_(token_for(api, f"matrix-{role.lower()}", role))

    for method, path, body, permission in ENDPOINTS:
        answer = caller.call(method, path, body)

        if allowed_to(role, permission):
            assert answer.status not in (401, 403), (method, path, answer.text)
        else:
            assert answer.status == 403, (method, path, answer.text)
            assert answer.error["permission"] == permission


def test_a_custom_role_allows_its_permissions_and_denies_the_rest(api: Api) -> None:
    created = api.post("/api/roles", {"name": "key-reader", "permissions": ["virtual_keys:view"]})
    caller = api.as_(token_for(api, "custom-reader", "key-reader"))

    assert created.status == 201 and created.json["permissions"] == ["virtual_keys:view"]
    assert caller.get("/api/governance/virtual-keys").status == 200
    denied = caller.get("/api/governance/teams")
    assert denied.status == 403 and denied.error["permission"] == "teams:view"
    assert "teams:view" in denied.error["message"]


def test_changing_a_custom_role_changes_what_its_tokens_may_do_at_once(api: Api) -> None:
    api.post("/api/roles", {"name": "growing", "permissions": []})
    caller = api.as_(token_for(api, "grower", "growing"))
    assert caller.get("/api/governance/teams").status == 403

    grown = api.put(
        "/api/roles/growing", {"permissions": ["teams:view"]}, headers={"if-match": "1"}
    )

    assert grown.status == 200 and grown.json["version"] == 2
    assert caller.get("/api/governance/teams").status == 200


def test_a_denial_is_an_event_in_the_audit_trail_naming_the_caller(api: Api) -> None:
    viewer = api.as_(token_for(api, "denied-viewer", "Viewer"))

    viewer.post("/api/governance/teams", {"id": "t-denied", "name": "No"})

    row = eventually(lambda: next(iter(audit_rows(api, "actor=token:denied-viewer")), None))
    assert row["action"] == "access.denied"
    assert row["resource_type"] == "team" and row["source"] == "api"  # as the team rows
    assert row["after"] == {
        "permission": "teams:create",
        "method": "POST",
        "path": "/api/governance/teams",
    }


def test_missing_unknown_and_revoked_tokens_get_401(api: Api) -> None:
    value = token_for(api, "short-lived", "Viewer")
    assert api.as_(value).get("/api/roles").status == 403  # authenticated, not allowed

    revoked = api.delete("/api/admin-tokens/short-lived")

    assert revoked.status == 204
    assert api.as_(value).get("/api/governance/teams").error["code"] == "admin_token_not_recognised"
    assert api.as_(None).get("/api/governance/teams").status == 401
    assert api.as_("gl-admin-made-up").get("/api/governance/teams").status == 401


def test_a_virtual_key_is_never_a_management_credential(api: Api) -> None:
    value = api.post("/api/governance/virtual-keys", {"id": "k-not-admin", "name": "K"}).json[
        "value"
    ]

    answer = api.as_(value).get("/api/governance/virtual-keys")

    assert answer.status == 401 and answer.error["code"] == "virtual_key_not_accepted"


def test_a_token_cannot_issue_a_token_stronger_than_itself(api: Api) -> None:
    api.post("/api/roles", {"name": "issuer", "permissions": ["admin_tokens:create", "teams:view"]})
    issuer = api.as_(token_for(api, "issuer", "issuer"))

    weaker = issuer.post("/api/admin-tokens", {"name": "weaker", "role": "issuer"})
    stronger = issuer.post("/api/admin-tokens", {"name": "stronger", "role": "Admin"})

    assert weaker.status == 201
    assert stronger.status == 403
    assert stronger.error["permission"] == "admin_tokens:delete"  # the first it lacks


def test_tokens_are_listed_without_their_value_and_need_a_known_role(api: Api) -> None:
    value = token_for(api, "listed", "Developer")

    listed = api.get("/api/admin-tokens?search=listed")
    unknown = api.post("/api/admin-tokens", {"name": "nobody-role", "role": "Wizard"})
    again = api.post("/api/admin-tokens", {"name": "listed", "role": "Viewer"})

    assert [t["name"] for t in listed.json["data"]] == ["listed"]
    assert value not in listed.text and "token_hash" not in listed.text
    assert unknown.status == 422 and unknown.error["problems"][0]["field"] == "role"
    assert again.status == 409


def test_builtin_roles_are_listed_and_cannot_change(api: Api) -> None:
    names = [r["name"] for r in api.get("/api/roles").json["data"]]

    assert names[:3] == ["Admin", "Developer", "Viewer"]
    assert api.put("/api/roles/Admin", {"permissions": []}).status == 409
    assert api.delete("/api/roles/Viewer").status == 409
    assert api.post("/api/roles", {"name": "Admin", "permissions": []}).status == 422


def test_a_role_with_an_unknown_permission_is_refused_naming_it(api: Api) -> None:
    answer = api.post("/api/roles", {"name": "odd", "permissions": ["teams:view", "teams:fly"]})

    assert answer.status == 422
    assert answer.error["problems"][0]["field"] == "permissions[1]"


def test_a_role_in_use_cannot_be_deleted(api: Api) -> None:
    api.post("/api/roles", {"name": "in-use", "permissions": ["audit:view"]})
    token_for(api, "holder", "in-use")

    assert api.delete("/api/roles/in-use").status == 409
    api.delete("/api/admin-tokens/holder")
    assert api.delete("/api/roles/in-use").status == 204


def test_the_bootstrap_token_is_an_admin_issued_by_the_system(
    api: Api, gateway: RunningGateway
) -> None:
    shown = api.get("/api/admin-tokens/bootstrap").json

    assert shown["role"] == "Admin" and ADMIN not in str(shown)
    row = eventually(lambda: next(iter(audit_rows(api, "resource_id=bootstrap")), None))
    assert (row["actor"], row["source"], row["action"]) == (
        "system",
        "system",
        "admin_token.created",
    )


def test_only_an_admin_token_begins_with_gl_admin(api: Api) -> None:
    api.post("/api/roles", {"name": "prefix-auditor", "permissions": ["audit:view"]})
    roles = ("Admin", "Developer", "Viewer", "prefix-auditor")
    issued = {role: token_for(api, f"prefix-{role.lower()}", role) for role in roles}
    assert issued["Admin"].startswith("gl-admin-")
    assert issued["Developer"].startswith("gl-developer-")
    assert issued["Viewer"].startswith("gl-viewer-")
    assert issued["prefix-auditor"].startswith("gl-token-")
    assert api.as_(issued["Viewer"]).get("/api/governance/teams").status == 200
