"""The `sso` section of the config: identity providers, their claims and group mappings.

Kept in the gateway settings (`GatewaySettingsChanged`), so every instance reads the same.
A client secret is a reference (`env.NAME`, `vault.…`), never a literal in an event.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from govledger.ledger.secrets.references import is_reference
from govledger.ledger.spec import IDENTIFIER, PROVIDER_NAME, Spec

PRESETS = ("generic", "okta", "entra", "keycloak", "google")
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")


class TeamMappingSpec(Spec):
    """An IdP group whose members are a team's; `create` makes the team when it is missing."""

    group: str = Field(min_length=1)
    team: str = Field(pattern=IDENTIFIER)
    create: bool = False


class IdentityProviderSpec(Spec):
    """One OpenID Connect provider: where it is, who we are to it, and what its groups mean."""

    name: str = Field(pattern=PROVIDER_NAME)
    preset: Literal["generic", "okta", "entra", "keycloak", "google"] = "generic"
    issuer: str = Field(pattern=r"^https?://", description="exactly the `iss` of its tokens")
    client_id: str = Field(min_length=1)
    client_secret: str | None = Field(None, description="a reference such as env.NAME")
    audiences: list[str] = Field(
        default_factory=list, description="accepted `aud` of bearer tokens besides client_id"
    )
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])
    groups_claim: str = Field(default="groups", min_length=1)
    role_mappings: dict[str, str] = Field(default_factory=dict, description="IdP group -> role")
    team_mappings: list[TeamMappingSpec] = Field(default_factory=list)
    default_role: str | None = Field(None, description="the role of a user in no mapped group")
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    leeway_s: int = Field(default=60, ge=0, le=300, description="clock skew allowed on exp/nbf/iat")

    @field_validator("client_secret")
    @classmethod
    def _a_reference(cls, value: str | None) -> str | None:
        if value is not None and not is_reference(value):
            raise ValueError("must be a reference such as env.NAME, never a literal secret")
        return value

    @field_validator("algorithms")
    @classmethod
    def _allowed(cls, values: list[str]) -> list[str]:
        for value in values:
            if value not in ALGORITHMS:
                raise ValueError(f"{value!r} is not allowed: one of {', '.join(ALGORITHMS)}")
        if not values:
            raise ValueError("at least one algorithm")
        return values


class SsoSpec(Spec):
    """Single sign-on: the identity providers."""

    providers: list[IdentityProviderSpec] = Field(default_factory=list)

    @field_validator("providers")
    @classmethod
    def _distinct(cls, values: list[IdentityProviderSpec]) -> list[IdentityProviderSpec]:
        names = [p.name for p in values]
        if len(set(names)) != len(names):
            raise ValueError("provider names must be distinct")
        return values
