"""The governance state written back as a config.json: what `apply` of it would keep.

A file never carries a secret: virtual keys are exported without their value (a file
without one plans no change), provider keys stored as references keep the reference, and
encrypted ones become an `env.NAME` placeholder that the exporter lists.
"""

from __future__ import annotations

import re
from typing import Any

from govledger.ledger.entities import GovernanceState

Data = dict[str, Any]
KINDS = (("providers", "provider"), ("customers", "customer"), ("teams", "team"))
READ_ONLY = ("version", "managed_by", "value_prefix", "retired", "stored_as", "reference")
SETTINGS = (
    "pricing_overrides",
    "allow_unknown_prices",
    "required_headers",
    "record_headers",
    "mcp_clients",
    "routing",
    "adaptive",
)


def placeholder(provider: str, key_id: str) -> str:
    """The env.NAME an encrypted provider key is exported as, e.g. env.OPENAI_MAIN_KEY."""
    name = re.sub(r"[^A-Z0-9]+", "_", f"{provider}_{key_id}_KEY".upper()).strip("_")
    return f"env.{'P_' if name[0].isdigit() else ''}{name}"


def _budgets(items: list[Data]) -> list[Data]:
    return [{k: v for k, v in b.items() if k != "anchor"} for b in items]


def _provider(name: str, data: Data, placeholders: list[str], index: int) -> Data:
    keys = []
    for k, key in enumerate(data.get("keys", [])):
        value = key.get("value_ref")
        if value is None:
            value = placeholder(name, key["id"])
            placeholders.append(f"providers[{index}].keys[{k}].value")
        keys.append(
            {"id": key["id"], "value": value, "weight": key["weight"], "models": key["models"]}
        )
    return {"name": name, "type": data["type"], "base_url": data["base_url"], "keys": keys}


def _virtual_key(key_id: str, data: Data) -> Data:
    hidden = {"value_hash", "retired", *READ_ONLY}
    shown = {"id": key_id, **{k: v for k, v in data.items() if k not in hidden}}
    shown["budgets"] = _budgets(data.get("budgets", []))
    shown["provider_configs"] = [
        {**route, "budgets": _budgets(route.get("budgets", []))}
        for route in data.get("provider_configs", [])
    ]
    return shown


def export_config(state: GovernanceState) -> tuple[Data, list[str]]:
    """The config file of the live state, and the paths of the placeholders it holds."""
    placeholders: list[str] = []
    out: Data = {}
    providers = sorted(state.live("provider").items())
    out["providers"] = [_provider(n, d, placeholders, i) for i, (n, d) in enumerate(providers)]
    for plural, kind in KINDS[1:]:
        out[plural] = [
            {"id": i, **d, "budgets": _budgets(d.get("budgets", []))}
            for i, d in sorted(state.live(kind).items())
        ]
    out["virtual_keys"] = [_virtual_key(i, d) for i, d in sorted(state.live("virtual_key").items())]
    out["guardrails"] = [{"id": i, **d} for i, d in sorted(state.live("guardrail").items())]
    settings = state.settings()
    for name in SETTINGS:
        if name in settings:
            out[name] = settings[name]
    return out, placeholders
