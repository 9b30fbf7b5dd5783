"""`ledger.durability` in the config file: before_response by default, after_response by choice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from govledger.ledger.config import ConfigError, parse_config
from govledger.ledger.credentials import SecretBox
from govledger.ledger.entities import GovernanceState
from govledger.ledger.plan import make_plan
from govledger.proxy.flow.gateway import durability

T0 = datetime(2025, 1, 1, tzinfo=UTC)
BOX = SecretBox(bytes(range(32)))


def state_of(raw: dict[str, Any], state: GovernanceState | None = None) -> GovernanceState:
    """The governance state after applying the config (to an empty state by default)."""
    state = state or GovernanceState()
    plan = make_plan(parse_config(raw), state, BOX, T0, lambda: "sk-bf-generated-000000001")
    for event in plan.events(state, "test", "cli", T0):
        state.apply(event)
    return state


def test_settlements_are_durable_before_the_response_by_default() -> None:
    state = state_of({})
    assert "ledger" not in state.settings()  # absent: older settings plan no change
    assert durability(state.settings()) == "before_response"
    assert make_plan(parse_config({}), state, BOX, T0, lambda: "unused").is_empty


def test_after_response_is_a_recorded_setting_and_going_back_is_a_change() -> None:
    state = state_of({"ledger": {"durability": "after_response"}})
    assert state.settings()["ledger"] == {"durability": "after_response"}
    assert durability(state.settings()) == "after_response"
    back = make_plan(parse_config({}), state, BOX, T0, lambda: "unused")
    assert [(c.kind, c.action, c.fields) for c in back.changes] == [
        ("settings", "update", ("ledger",))
    ]
    assert durability(state_of({}, state).settings()) == "before_response"


@pytest.mark.parametrize("value", ["eventually", "", None, 1])
def test_an_unknown_durability_is_refused_naming_its_path(value: object) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config({"ledger": {"durability": value}})
    assert [path for path, _ in refused.value.problems] == ["ledger.durability"]


def test_an_unknown_ledger_field_is_refused() -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config({"ledger": {"durability": "after_response", "fsync": False}})
    assert [path for path, _ in refused.value.problems] == ["ledger.fsync"]


@given(st.dictionaries(st.text(max_size=12), st.text(max_size=16) | st.none(), max_size=3))
def test_only_after_response_itself_turns_the_mode_on(ledger: dict[str, str | None]) -> None:
    expected = "after_response" if ledger.get("durability") == "after_response" else None
    assert durability({"ledger": ledger}) == (expected or "before_response")
