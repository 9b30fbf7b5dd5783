"""What the API shows of an entity: its spec's fields, its version, never a secret.

Virtual keys show a display prefix (no hash); provider keys show how their value is stored
(`reference` or `encrypted`), never the value; admin tokens show a prefix (no hash). The
shape round-trips: a GET body minus its read-only fields is a valid PUT body.
"""

from __future__ import annotations

from typing import Any

from govledger.ledger.access import BUILTIN_ROLES

Data = dict[str, Any]
READ_ONLY = (
    "id",
    "version",
    "managed_by",
    "value_prefix",
    "retired",
    "token_prefix",
    "issued_at",
    "builtin",
)


def _budgets(items: list[Data]) -> list[Data]:
    return [{k: v for k, v in b.items() if k != "anchor"} for b in items]


def _route(route: Data) -> Data:
    return {**route, "budgets": _budgets(route["budgets"])}


def _provider_key(key: Data) -> Data:
    stored_as = "reference" if "value_ref" in key else "encrypted"
    shown = {
        "id": key["id"],
        "weight": key["weight"],
        "models": key["models"],
        "stored_as": stored_as,
    }
    if "value_ref" in key:  # a reference is no secret: it is what is stored and shown
        shown["reference"] = key["value_ref"]
    return shown


def public(kind: str, entity_id: str, data: Data | None, version: int | None = None) -> Data:
    """The entity as the API shows it (`data` None gives None-like empty dict)."""
    if data is None:
        return {}
    shown: Data = {"id": entity_id}
    if kind == "virtual_key":
        hidden = {"value_hash", "retired"}
        shown.update({k: v for k, v in data.items() if k not in hidden})
        shown["budgets"] = _budgets(data.get("budgets", []))
        shown["provider_configs"] = [_route(r) for r in data.get("provider_configs", [])]
        shown["retired"] = [
            {"value_prefix": r["value_prefix"], "until": r["until"]}
            for r in data.get("retired", [])
        ]
    elif kind == "provider":
        shown.update({"name": entity_id, **data})
        shown["keys"] = [_provider_key(k) for k in data.get("keys", [])]
    elif kind == "admin_token":
        shown.update({k: v for k, v in data.items() if k != "token_hash"})
    elif kind in ("customer", "team"):
        shown.update(data)
        shown["budgets"] = _budgets(data.get("budgets", []))
    elif kind == "role":
        shown.update({**data, "builtin": False})
    elif kind == "session":
        shown.update({k: v for k, v in data.items() if k != "session_hash"})
    else:
        shown.update(data)
    if version is not None:
        shown["version"] = version
    return shown


def builtin_role(name: str) -> Data:
    """A built-in role as the API shows it."""
    return {
        "id": name,
        "name": name,
        "permissions": sorted(BUILTIN_ROLES[name]),
        "builtin": True,
        "version": 0,
    }


def redacted(kind: str, entity_id: str, data: Data | None) -> Data | None:
    """An entity's data as the audit trail shows it: the public shape without id or version."""
    if data is None:
        return None
    return {k: v for k, v in public(kind, entity_id, data).items() if k != "id"}
