"""The shipped JSON Schema of config.json is the one the models generate."""

from __future__ import annotations

import json
from pathlib import Path

from govledger.ledger.config import ConfigFile, parse_config

ROOT = Path(__file__).resolve().parents[3]


def test_shipped_schema_matches_the_config_models() -> None:
    shipped = json.loads((ROOT / "govledger" / "ledger" / "config.schema.json").read_text())
    assert shipped == ConfigFile.model_json_schema(by_alias=True)


def test_example_config_is_valid() -> None:
    config = parse_config(json.loads((ROOT / "config.example.json").read_text()))
    assert [k.id for k in config.virtual_keys] == ["demo"]
