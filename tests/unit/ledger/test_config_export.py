"""The state exported as a config.json: it plans no change when applied back, and holds no
secret (encrypted provider keys become listed env.NAME placeholders)."""

from __future__ import annotations

import re

import orjson
from hypothesis import given
from hypothesis import strategies as st

from govledger.ledger.config import REFERENCE
from govledger.ledger.config_export import export_config, placeholder
from govledger.ledger.money import json_default
from tests.unit.ledger.test_plan import FILE, OPENAI_LITERAL, applied, plan_of

IDENTIFIER = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,30}", fullmatch=True)


@given(IDENTIFIER, IDENTIFIER)
def test_a_placeholder_is_always_a_valid_env_reference(provider: str, key_id: str) -> None:
    name = placeholder(provider, key_id)
    assert re.fullmatch(REFERENCE, name), name
    assert re.fullmatch(r"env\.[A-Z0-9_]+", name)


def test_the_export_of_a_state_plans_no_change_once_its_placeholders_are_filled() -> None:
    state = applied(FILE)
    exported, placeholders = export_config(state)
    text = orjson.dumps(exported, default=json_default).decode()
    assert OPENAI_LITERAL not in text and "value_hash" not in text and "value_enc" not in text
    assert placeholders == ["providers[0].keys[0].value"]
    assert exported["providers"][0]["keys"][0]["value"] == "env.OPENAI_LITERAL_KEY"
    assert exported["providers"][0]["keys"][1]["value"] == "env.OPENAI_API_KEY"  # a reference
    assert "value" not in exported["virtual_keys"][0]  # a file without one plans no change
    filled = text.replace("env.OPENAI_LITERAL_KEY", OPENAI_LITERAL)  # the operator fills it in
    assert plan_of(orjson.loads(filled), state).is_empty
