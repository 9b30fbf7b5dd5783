"""Single-entity commands: pure decisions over the folded state, versioned for concurrency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from govledger.ledger import commands
from govledger.ledger import events as ev
from govledger.ledger.commands import Author
from govledger.ledger.config import ConfigError, CustomerSpec, TeamSpec, VirtualKeySpec
from govledger.ledger.credentials import SecretBox, hash_secret
from govledger.ledger.entities import GovernanceState

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
ALICE = Author("token:alice", "api")
BOX = SecretBox(bytes(range(32)))
OLD = "sk-bf-old-value-0123456789"
NEW = "sk-bf-new-value-0123456789"


def with_events(state: GovernanceState, *events: ev.EntityEvent) -> GovernanceState:
    """Fold events into the state, as the ledger does after appending them."""
    for event in events:
        state.apply(event)
    return state


@pytest.fixture
def state() -> GovernanceState:
    """A customer acme, its team platform, and a key of that team."""
    state = GovernanceState()
    acme = commands.customer_data(state, CustomerSpec(id="acme", name="Acme"), AT)
    with_events(state, commands.event(state, "customer", "created", "acme", acme, ALICE, AT))
    team = commands.team_data(state, TeamSpec(id="platform", name="P", customer_id="acme"), AT)
    with_events(state, commands.event(state, "team", "created", "platform", team, ALICE, AT))
    key = commands.virtual_key_data(
        state,
        VirtualKeySpec(id="k1", name="K", team_id="platform", value=OLD, routing=None),
        AT,
        None,
    )
    return with_events(state, commands.event(state, "virtual_key", "created", "k1", key, ALICE, AT))


def test_an_event_names_its_author_and_follows_the_stream_version(state: GovernanceState) -> None:
    event = commands.event(state, "team", "updated", "platform", {"name": "x"}, ALICE, AT)

    assert (event.actor, event.source, event.entity_id) == ("token:alice", "api", "platform")
    assert event.originator_version == 2
    assert type(event).__name__ == "TeamUpdated"


def test_a_stale_expected_version_is_refused(state: GovernanceState) -> None:
    with pytest.raises(commands.StaleVersionError, match="at version 1, not 3"):
        commands.current(state, "team", "platform", expected=3)

    assert commands.current(state, "team", "platform", expected=1)["name"] == "P"


def test_a_missing_entity_and_a_live_duplicate_are_refused(state: GovernanceState) -> None:
    with pytest.raises(commands.NotFoundError):
        commands.current(state, "team", "nope", None)
    with pytest.raises(commands.AlreadyExistsError):
        commands.check_absent(state, "customer", "acme")


def test_references_to_missing_entities_name_their_field(state: GovernanceState) -> None:
    with pytest.raises(ConfigError) as caught:
        commands.team_data(state, TeamSpec(id="t", name="T", customer_id="ghost"), AT)
    assert caught.value.problems == [("customer_id", "no customer 'ghost'")]

    spec = VirtualKeySpec.model_validate(
        {"id": "k9", "name": "K", "team_id": "ghost", "provider_configs": [{"provider": "none"}]}
    )
    with pytest.raises(ConfigError) as caught:
        commands.virtual_key_data(state, spec, AT, "sk-bf-generated-000000")
    assert [path for path, _ in caught.value.problems] == [
        "team_id",
        "provider_configs[0].provider",
    ]


def test_deleting_a_team_that_owns_keys_is_refused_without_cascade(state: GovernanceState) -> None:
    with pytest.raises(commands.StillInUseError) as caught:
        commands.delete(state, "team", "platform", ALICE, AT)

    assert caught.value.dependents == [("virtual_key", "k1")]


def test_a_cascade_deletes_the_customer_its_teams_and_their_keys_at_once(
    state: GovernanceState,
) -> None:
    events = commands.delete(state, "customer", "acme", ALICE, AT, cascade=True)

    assert [(type(e).__name__, e.entity_id) for e in events] == [
        ("VirtualKeyDeleted", "k1"),
        ("TeamDeleted", "platform"),
        ("CustomerDeleted", "acme"),
    ]
    with_events(state, *events)
    assert state.live("virtual_key") == {} and hash_secret(OLD) not in state.key_by_hash


def test_a_provider_in_use_cannot_be_deleted_even_with_cascade() -> None:
    state = GovernanceState()
    raw = {"type": "openai", "base_url": "http://x", "keys": [{"id": "a", "value": "sk-up-1"}]}
    _, data = commands.provider_data(state, raw, BOX, "p")
    with_events(state, commands.event(state, "provider", "created", "p", data, ALICE, AT))
    spec = VirtualKeySpec.model_validate(
        {"id": "k", "name": "K", "value": OLD, "provider_configs": [{"provider": "p"}]}
    )
    key = commands.virtual_key_data(state, spec, AT, None)
    with_events(state, commands.event(state, "virtual_key", "created", "k", key, ALICE, AT))

    with pytest.raises(commands.StillInUseError):
        commands.delete(state, "provider", "p", ALICE, AT, cascade=True)


def test_a_provider_key_without_a_value_keeps_its_stored_secret() -> None:
    state = GovernanceState()
    raw = {"type": "openai", "base_url": "http://x", "keys": [{"id": "a", "value": "sk-up-1"}]}
    _, data = commands.provider_data(state, raw, BOX, "p")
    with_events(state, commands.event(state, "provider", "created", "p", data, ALICE, AT))

    _, again = commands.provider_data(state, {**raw, "keys": [{"id": "a", "weight": 2}]}, BOX, "p")

    assert again["keys"][0]["value_enc"] == data["keys"][0]["value_enc"]
    assert again["keys"][0]["weight"] == 2
    with pytest.raises(ConfigError, match=r"keys\[0\]\.value"):
        commands.provider_data(state, {**raw, "keys": [{"id": "new"}]}, BOX, "p")


def test_a_rotation_keeps_the_old_value_valid_only_through_its_grace(
    state: GovernanceState,
) -> None:
    event = commands.rotate(state, "k1", NEW, 60, ALICE, AT)
    with_events(state, event)

    assert type(event).__name__ == "VirtualKeyRotated"
    assert OLD not in str(event.data) and NEW not in str(event.data)
    assert state.accepts("k1", hash_secret(NEW), AT)
    assert state.accepts("k1", hash_secret(OLD), AT + timedelta(seconds=59))
    assert not state.accepts("k1", hash_secret(OLD), AT + timedelta(seconds=60))


def test_a_rotation_without_grace_refuses_the_old_value_at_once(state: GovernanceState) -> None:
    with_events(state, commands.rotate(state, "k1", NEW, 0, ALICE, AT))

    assert not state.accepts("k1", hash_secret(OLD), AT)
    assert hash_secret(OLD) not in state.key_by_hash


def test_a_second_rotation_drops_expired_grace_entries(state: GovernanceState) -> None:
    with_events(state, commands.rotate(state, "k1", NEW, 10, ALICE, AT))
    later = AT + timedelta(seconds=20)
    third = "sk-bf-third-value-0123456789"

    with_events(state, commands.rotate(state, "k1", third, 10, ALICE, later))

    retired = state.get("virtual_key", "k1")["retired"]  # type: ignore[index]
    assert [r["value_hash"] for r in retired] == [hash_secret(NEW)]


def test_an_admin_token_is_kept_as_a_hash_and_needs_a_known_role() -> None:
    state = GovernanceState()
    event = commands.issue_token(state, "ops", "Viewer", "gl-admin-secret-xyz", ALICE, AT)
    with_events(state, event)

    assert "gl-admin-secret-xyz" not in str(event.data)
    assert state.token_by_hash[hash_secret("gl-admin-secret-xyz")] == "ops"
    with pytest.raises(ConfigError, match="no role 'Wizard'"):
        commands.issue_token(state, "x", "Wizard", "gl-admin-other", ALICE, AT)


def test_a_role_used_by_a_token_cannot_be_deleted() -> None:
    state = GovernanceState()
    role = {"name": "auditor", "permissions": ["audit:view"]}
    with_events(state, commands.event(state, "role", "created", "auditor", role, ALICE, AT))
    with_events(state, commands.issue_token(state, "t", "auditor", "gl-admin-1", ALICE, AT))

    with pytest.raises(commands.StillInUseError):
        commands.delete(state, "role", "auditor", ALICE, AT)


def test_budgets_keep_their_anchor_across_an_update(state: GovernanceState) -> None:
    spec = CustomerSpec.model_validate(
        {"id": "acme", "name": "Acme", "budgets": [{"max_limit": "5", "reset_duration": "1d"}]}
    )
    first = commands.customer_data(state, spec, AT)
    with_events(state, commands.event(state, "customer", "updated", "acme", first, ALICE, AT))

    again = commands.customer_data(state, spec, AT + timedelta(days=3))

    assert again["budgets"][0]["anchor"] == AT.isoformat()
    assert again["budgets"][0]["max_limit"] == Decimal("5")
