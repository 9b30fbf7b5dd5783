"""Turn validated specs into the entity data stored in events (no secrets, stable anchors)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from govledger.ledger.config import (
    BudgetSpec,
    ConfigError,
    CustomerSpec,
    ProviderConfigSpec,
    ProviderSpec,
    RateLimitSpec,
    TeamSpec,
    VirtualKeySpec,
)
from govledger.ledger.credentials import (
    CredentialError,
    SecretBox,
    display_prefix,
    hash_secret,
    is_reference,
    resolve_reference,
)

Data = dict[str, Any]


def budgets(specs: list[BudgetSpec], prior: list[Data] | None, now: datetime) -> list[Data]:
    """Budget data; a budget keeps the anchor of the prior one with the same duration."""
    anchors = {b["reset_duration"]: b["anchor"] for b in prior or []}
    return [
        {
            "max_limit": spec.max_limit,
            "reset_duration": spec.reset_duration,
            "calendar_aligned": spec.calendar_aligned,
            "mode": spec.mode,
            "anchor": anchors.get(spec.reset_duration, now.isoformat()),
        }
        for spec in specs
    ]


def _prior_budgets(prior: Data | None) -> list[Data] | None:
    return None if prior is None else list(prior["budgets"])


def rate_limit(spec: RateLimitSpec | None) -> Data | None:
    """Rate-limit data, or None when there is none."""
    return None if spec is None else spec.model_dump()


def customer(spec: CustomerSpec, prior: Data | None, now: datetime) -> Data:
    """Customer data."""
    return {
        "name": spec.name,
        "budgets": budgets(spec.budgets, _prior_budgets(prior), now),
    }


def team(spec: TeamSpec, prior: Data | None, now: datetime) -> Data:
    """Team data."""
    data: Data = {
        "name": spec.name,
        "customer_id": spec.customer_id,
        "budgets": budgets(spec.budgets, _prior_budgets(prior), now),
    }
    if spec.personal_keys is not None:  # absent otherwise: older teams plan no change
        data["personal_keys"] = spec.personal_keys.model_dump()
    return data


def provider(spec: ProviderSpec, prior: Data | None, box: SecretBox, path: str) -> Data:
    """Provider data; literal keys are encrypted, unchanged ones keep their ciphertext."""
    prior_keys = {k["id"]: k for k in (prior or {}).get("keys", [])}
    keys = []
    for index, key in enumerate(spec.keys):
        old = prior_keys.get(key.id)
        if is_reference(key.value):
            secret: Data = {"value_ref": key.value}
        elif old is not None and _same_literal(old, key.value, box):
            secret = {"value_enc": old["value_enc"]}
        else:
            try:
                secret = {"value_enc": box.encrypt(key.value)}
            except CredentialError as error:
                raise ConfigError([(f"{path}.keys[{index}].value", str(error))]) from None
        keys.append({"id": key.id, **secret, "weight": key.weight, "models": key.models})
    return {"type": spec.type, "base_url": spec.base_url.rstrip("/"), "keys": keys}


def _same_literal(old: Data, literal: str, box: SecretBox) -> bool:
    if "value_enc" not in old:
        return False
    try:
        return box.decrypt(old["value_enc"]) == literal
    except CredentialError:
        return False


def route(spec: ProviderConfigSpec, prior: Data | None, now: datetime) -> Data:
    """One provider config of a virtual key."""
    data = {
        "provider": spec.provider,
        "weight": spec.weight,
        "allowed_models": spec.allowed_models,
        "key_ids": spec.key_ids,
        "budgets": budgets(spec.budgets, _prior_budgets(prior), now),
        "rate_limit": rate_limit(spec.rate_limit),
    }
    if spec.model_map:  # only when set, so configs without one plan no change
        data["model_map"] = dict(spec.model_map)
    return data


def virtual_key(
    spec: VirtualKeySpec, prior: Data | None, now: datetime, generated: str | None, path: str
) -> Data:
    """Virtual key data: the value only as hash and prefix; `generated` is a fresh value."""
    if spec.value is not None:
        try:
            value: str | None = resolve_reference(spec.value)
        except CredentialError as error:
            raise ConfigError([(f"{path}.value", str(error))]) from None
        if value is not None and not value.startswith("sk-bf-"):
            raise ConfigError([(f"{path}.value", "the referenced value must start with sk-bf-")])
    else:
        value = generated
    if value is not None:
        value_hash, prefix = hash_secret(value), display_prefix(value)
    elif prior is not None:
        value_hash, prefix = prior["value_hash"], prior["value_prefix"]
    else:  # pragma: no cover - callers pass `generated` for new keys without a value
        raise ConfigError([(f"{path}.value", "a new key needs a value")])
    prior_routes = {r["provider"]: r for r in (prior or {}).get("provider_configs", [])}
    data = {
        "name": spec.name,
        "description": spec.description,
        "value_hash": value_hash,
        "value_prefix": prefix,
        "is_active": spec.is_active,
        "expires_at": spec.expires_at.isoformat() if spec.expires_at else None,
        "team_id": spec.team_id,
        "customer_id": spec.customer_id,
        **({"user_id": spec.user_id} if spec.user_id else {}),  # absent: older keys plan alike
        "provider_configs": [
            route(r, prior_routes.get(r.provider), now) for r in spec.provider_configs
        ],
        "budgets": budgets(spec.budgets, _prior_budgets(prior), now),
        "rate_limit": rate_limit(spec.rate_limit),
        "mcp_configs": [m.model_dump() for m in spec.mcp_configs],
    }
    if spec.routing is not None:  # absent otherwise: keys written before it plan no change
        data["routing"] = spec.routing
    if spec.adaptive is not None:  # likewise
        data["adaptive"] = spec.adaptive.model_dump(exclude_none=True)
    if prior is not None and "retired" in prior and value_hash == prior["value_hash"]:
        data["retired"] = prior["retired"]  # a rotation's grace outlives config changes
    return data


def comparable(data: Data | None) -> Any:
    """Entity data without budget anchors (which never change by config), for diffing."""
    if data is None:
        return None
    return _strip(data)


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k != "anchor"}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value
