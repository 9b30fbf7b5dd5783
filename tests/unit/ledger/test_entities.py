"""GovernanceState: the fold of governance events into entities, versions and key hashes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from govledger.ledger import events as ev
from govledger.ledger.entities import (
    EVENT_FOR,
    KINDS,
    SETTINGS_ID,
    GovernanceState,
    kind_and_action,
    stream_id,
)

AT = datetime(2025, 5, 1, tzinfo=UTC)
KIND = {cls: kind for (kind, _), cls in EVENT_FOR.items()}


def event(
    cls: type[ev.EntityEvent], entity_id: str, version: int, data: dict[str, Any]
) -> ev.EntityEvent:
    """One governance event for an entity."""
    return cls(
        originator_id=stream_id(KIND[cls], entity_id),
        originator_version=version,
        timestamp=AT,
        actor="alice",
        source="api",
        entity_id=entity_id,
        data=data,
    )


def key_data(value_hash: str, is_active: bool = True) -> dict[str, Any]:
    """The part of a virtual key's data the state reads."""
    return {"name": "k", "value_hash": value_hash, "is_active": is_active}


def test_every_governance_event_has_a_kind_and_an_action() -> None:
    pairs = {cls: kind_and_action(event(cls, "x", 1, {})) for cls in ev.GOVERNANCE_EVENTS}

    assert {kind for kind, _ in pairs.values()} == set(KINDS)
    assert {action for _, action in pairs.values()} == {
        "created",
        "updated",
        "deleted",
        "rotated",
        "joined_team",
        "left_team",
    }
    assert all(EVENT_FOR[pair] is cls for cls, pair in pairs.items())


def test_settings_are_created_by_the_same_event_that_changes_them() -> None:
    assert EVENT_FOR[("settings", "created")] is ev.GatewaySettingsChanged
    assert EVENT_FOR[("settings", "updated")] is ev.GatewaySettingsChanged


def test_stream_ids_are_stable_and_distinct_per_kind() -> None:
    assert stream_id("team", "a") == stream_id("team", "a")
    assert stream_id("team", "a") != stream_id("customer", "a")
    assert stream_id("team", "a") != stream_id("team", "b")
    # Pinned: a different id would orphan every stream already in a ledger.
    assert str(stream_id("team", "platform")) == "64b7f326-41e4-59bd-9416-4f66bbc44e93"


def test_a_created_entity_is_live_at_version_one() -> None:
    state = GovernanceState()

    state.apply(event(ev.TeamCreated, "platform", 1, {"name": "Platform"}))

    assert state.get("team", "platform") == {"name": "Platform"}
    assert state.version("team", "platform") == 1
    assert state.live("team") == {"platform": {"name": "Platform"}}


def test_an_update_replaces_the_data_and_advances_the_version() -> None:
    state = GovernanceState()
    state.apply(event(ev.TeamCreated, "platform", 1, {"name": "Platform"}))

    state.apply(event(ev.TeamUpdated, "platform", 2, {"name": "Platform team"}))

    assert state.get("team", "platform") == {"name": "Platform team"}
    assert state.version("team", "platform") == 2


def test_a_deleted_entity_is_gone_but_keeps_its_version() -> None:
    state = GovernanceState()
    state.apply(event(ev.CustomerCreated, "acme", 1, {"name": "Acme"}))

    state.apply(event(ev.CustomerDeleted, "acme", 2, {"name": "Acme"}))

    assert state.get("customer", "acme") is None
    assert state.live("customer") == {}
    assert state.version("customer", "acme") == 2


def test_an_entity_that_never_existed_has_version_zero() -> None:
    state = GovernanceState()
    assert state.get("provider", "openai") is None
    assert state.version("provider", "openai") == 0


def test_entities_of_different_kinds_with_one_id_are_apart() -> None:
    state = GovernanceState()
    state.apply(event(ev.CustomerCreated, "acme", 1, {"name": "Customer"}))
    state.apply(event(ev.TeamCreated, "acme", 1, {"name": "Team"}))

    assert state.get("customer", "acme") == {"name": "Customer"}
    assert state.get("team", "acme") == {"name": "Team"}


def test_a_virtual_key_is_found_by_the_hash_of_its_value() -> None:
    state = GovernanceState()

    state.apply(event(ev.VirtualKeyCreated, "ci", 1, key_data("h1")))

    assert state.key_by_hash == {"h1": "ci"}


def test_a_new_value_replaces_the_old_hash() -> None:
    state = GovernanceState()
    state.apply(event(ev.VirtualKeyCreated, "ci", 1, key_data("h1")))

    state.apply(event(ev.VirtualKeyUpdated, "ci", 2, key_data("h2")))

    assert state.key_by_hash == {"h2": "ci"}


def test_a_disabled_key_is_still_found_so_it_can_be_refused_by_name() -> None:
    state = GovernanceState()
    state.apply(event(ev.VirtualKeyCreated, "ci", 1, key_data("h1")))

    state.apply(event(ev.VirtualKeyUpdated, "ci", 2, key_data("h1", is_active=False)))

    assert state.key_by_hash == {"h1": "ci"}


def test_a_deleted_key_is_no_longer_found() -> None:
    state = GovernanceState()
    state.apply(event(ev.VirtualKeyCreated, "ci", 1, key_data("h1")))

    state.apply(event(ev.VirtualKeyDeleted, "ci", 2, key_data("h1")))

    assert state.key_by_hash == {}


def test_settings_have_defaults_until_they_are_set() -> None:
    state = GovernanceState()
    assert state.settings() == {
        "pricing_overrides": [],
        "allow_unknown_prices": False,
        "required_headers": {},
        "record_headers": [],
    }

    changed = {
        "pricing_overrides": [],
        "allow_unknown_prices": True,
        "required_headers": {},
        "record_headers": [],
    }
    state.apply(event(ev.GatewaySettingsChanged, SETTINGS_ID, 1, changed))

    assert state.settings() == changed


@pytest.mark.parametrize("order", [(0, 1, 2), (0, 2, 1)])
def test_folding_is_determined_by_the_events_alone(order: tuple[int, ...]) -> None:
    events = [
        event(ev.TeamCreated, "a", 1, {"name": "A"}),
        event(ev.TeamCreated, "b", 1, {"name": "B"}),
        event(ev.CustomerCreated, "c", 1, {"name": "C"}),
    ]
    first, second = GovernanceState(), GovernanceState()
    for item in events:
        first.apply(item)
    for index in order:
        second.apply(events[index])

    assert first.live("team") == second.live("team")
    assert first.live("customer") == second.live("customer")
