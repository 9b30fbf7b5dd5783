"""SCIM request bodies as Okta and Microsoft Entra ID document sending them."""

from __future__ import annotations

from typing import Any

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def okta_create(user_name: str, external_id: str) -> dict[str, Any]:
    """Okta's create-user request (it sends a password and an empty groups list)."""
    return {
        "schemas": [CORE],
        "userName": user_name,
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": external_id,
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }


def okta_deactivate() -> dict[str, Any]:
    """Okta's deactivation: a replace with no path."""
    return {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]}


def entra_create(user_name: str, external_id: str) -> dict[str, Any]:
    """Entra ID's create-user request (enterprise extension, meta, roles)."""
    return {
        "schemas": [CORE, ENTERPRISE],
        "externalId": external_id,
        "userName": user_name,
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "g"},
        "roles": [],
    }


def entra_patch(*operations: tuple[str, str, Any]) -> dict[str, Any]:
    """Entra ID's PATCH: capitalised ops, a path each, booleans as strings."""
    return {
        "schemas": [PATCH],
        "Operations": [{"op": op, "path": path, "value": value} for op, path, value in operations],
    }
