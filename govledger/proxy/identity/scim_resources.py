"""SCIM 2.0 resources (scim2-models) to and from users and teams, and the discovery documents.

A SCIM User is a `user` entity (its SCIM id is the entity id); a SCIM Group is a team whose
members are the users that joined it. Only what the ledger keeps is answered back.
"""

from __future__ import annotations

from typing import Any

from scim2_models import (
    Context,
    Email,
    EnterpriseUser,
    Group,
    GroupMember,
    Meta,
    Name,
    ResourceType,
    ServiceProviderConfig,
    User,
)

from govledger.ledger.entities import GovernanceState
from govledger.ledger.personal import ERASED
from govledger.ledger.users import Profile

ScimUser = User[EnterpriseUser]
MAX_RESULTS = 200


def profile_of(user: ScimUser) -> Profile:
    """What a SCIM User says about a person."""
    email = next((e.value for e in user.emails or [] if e.primary), None) or next(
        (e.value for e in user.emails or []), ""
    )
    name = user.name or Name()
    return Profile(
        personal={
            "user_name": user.user_name or "",
            "email": str(email or ""),
            "display_name": user.display_name or "",
            "given_name": name.given_name or "",
            "family_name": name.family_name or "",
        },
        active=user.active is not False,
        external_id=user.external_id,
    )


def _shown(personal: dict[str, Any]) -> bool:
    """True if the user has an e-mail to show (none once the user is erased)."""
    return bool(personal["email"]) and personal["email"] != ERASED


def user_resource(user_id: str, data: dict[str, Any], version: int, base: str) -> dict[str, Any]:
    """The SCIM User of one user entity, as JSON."""
    personal = data["personal"]
    resource = ScimUser(
        id=user_id,
        external_id=data.get("external_id"),
        user_name=personal["user_name"],
        display_name=personal["display_name"] or None,
        name=Name(
            given_name=personal.get("given_name") or None,
            family_name=personal.get("family_name") or None,
        ),
        emails=[Email(value=personal["email"], primary=True)] if _shown(personal) else None,
        active=bool(data["active"]),
        meta=Meta(
            resource_type="User", version=f'W/"{version}"', location=f"{base}/Users/{user_id}"
        ),
    )
    return resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)


def group_resource(state: GovernanceState, team_id: str, base: str) -> dict[str, Any]:
    """The SCIM Group of one team: its members are the users in it."""
    team = state.get("team", team_id) or {}
    members = [
        GroupMember.model_validate(
            {"value": u, "display": d["personal"]["user_name"], "type": "User"}
        )
        for u, d in sorted(state.live("user").items())
        if team_id in d["teams"]
    ]
    group = Group(
        id=team_id,
        display_name=team.get("name", team_id),
        members=members or None,
        meta=Meta(
            resource_type="Group",
            version=f'W/"{state.version("team", team_id)}"',
            location=f"{base}/Groups/{team_id}",
        ),
    )
    return group.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)


def service_provider_config(base: str) -> dict[str, Any]:
    """What this SCIM service supports (RFC 7643 section 5)."""
    config = ServiceProviderConfig.model_validate(
        {
            "documentationUri": "https://govledger.dev/docs/identity#scim",
            "patch": {"supported": True},
            "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": True, "maxResults": MAX_RESULTS},
            "changePassword": {"supported": False},
            "sort": {"supported": False},
            "etag": {"supported": False},
            "authenticationSchemes": [
                {
                    "type": "oauthbearertoken",
                    "name": "Bearer token",
                    "description": "An admin token whose role may update teams",
                    "primary": True,
                }
            ],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": f"{base}/ServiceProviderConfig",
            },
        }
    )
    return config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)


def resource_types(base: str) -> list[dict[str, Any]]:
    """The User and Group resource types."""
    user = {
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "schema": "urn:ietf:params:scim:schemas:core:2.0:User",
        "schemaExtensions": [
            {
                "schema": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                "required": False,
            }
        ],
        "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/User"},
    }
    group = {
        "id": "Group",
        "name": "Group",
        "endpoint": "/Groups",
        "schema": "urn:ietf:params:scim:schemas:core:2.0:Group",
        "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/Group"},
    }
    return [
        ResourceType.model_validate(r).model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        for r in (user, group)
    ]


def schemas() -> list[dict[str, Any]]:
    """The schemas of the resources served (from the models themselves)."""
    found = [ScimUser.to_schema(), EnterpriseUser.to_schema(), Group.to_schema()]
    return [s.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE) for s in found]
