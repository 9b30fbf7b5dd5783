"""Claims to groups, role and teams; Entra's overage and a missing groups claim refused."""

from __future__ import annotations

import pytest

from govledger.ledger.entities import GovernanceState
from govledger.ledger.group_mapping import MappingRefused, groups_of, map_claims
from govledger.ledger.sso import IdentityProviderSpec

PROVIDER = IdentityProviderSpec.model_validate(
    {
        "name": "okta",
        "issuer": "https://example.okta.com",
        "client_id": "c",
        "role_mappings": {"admins": "Admin", "devs": "Developer", "viewers": "Viewer"},
        "team_mappings": [
            {"group": "devs", "team": "platform"},
            {"group": "ml", "team": "ml", "create": True},
        ],
    }
)


def test_several_groups_give_the_highest_role_and_their_teams() -> None:
    mapped = map_claims(GovernanceState(), PROVIDER, {"groups": ["viewers", "devs", "ml"]})
    assert mapped.role == "Developer"
    assert mapped.teams == ("ml", "platform")
    assert mapped.creates == (("ml", "ml"),)


def test_no_mapped_group_and_no_groups_claim_are_refused_unless_a_default_role() -> None:
    with pytest.raises(MappingRefused) as none:
        map_claims(GovernanceState(), PROVIDER, {"groups": ["sales"]})
    assert none.value.reason == "no_mapped_group"
    with pytest.raises(MappingRefused) as missing:
        map_claims(GovernanceState(), PROVIDER, {"sub": "x"})
    assert missing.value.reason == "groups_claim_missing"
    lenient = PROVIDER.model_copy(update={"default_role": "Viewer"})
    assert map_claims(GovernanceState(), lenient, {"sub": "x"}).role == "Viewer"


@pytest.mark.parametrize(
    "claims",
    [
        {"hasgroups": True},
        {"_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {"endpoint": "x"}}},
    ],
)
def test_entra_group_overage_is_named(claims: dict[str, object]) -> None:
    with pytest.raises(MappingRefused) as refused:
        groups_of(claims, PROVIDER)
    assert refused.value.reason == "groups_overage"
    assert "app roles" in str(refused.value)


def test_a_groups_claim_that_is_not_names_is_refused() -> None:
    with pytest.raises(MappingRefused) as refused:
        groups_of({"groups": [1, 2]}, PROVIDER)
    assert refused.value.reason == "groups_claim_invalid"
    assert groups_of({"groups": "solo"}, PROVIDER) == ("solo",)


def test_a_literal_client_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="reference"):
        IdentityProviderSpec.model_validate(
            {"name": "x", "issuer": "https://x", "client_id": "c", "client_secret": "hunter2"}
        )
