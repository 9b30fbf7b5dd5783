"""Every place a reference may be configured: provider keys in the state, and settings."""

from __future__ import annotations

from collections.abc import Mapping

from govledger.ledger.entities import GovernanceState
from govledger.ledger.secrets.references import is_reference

# Settings whose value may be a reference instead of the secret itself.
SECRET_SETTINGS = (
    "GOVLEDGER_SECRET_KEY",
    "GOVLEDGER_ALERT_WEBHOOK_SECRET",
    "GOVLEDGER_ALERT_SMTP_URL",
    "GOVLEDGER_ALERT_PAGERDUTY_ROUTING_KEY",
    "GOVLEDGER_SPLUNK_HEC_TOKEN",
    "GOVLEDGER_EXPORT_HTTP_TOKEN",
)


def provider_references(state: GovernanceState) -> dict[str, list[str]]:
    """Each referenced provider key: reference -> where (`providers.<name>.keys.<id>`)."""
    found: dict[str, list[str]] = {}
    for name, data in sorted(state.live("provider").items()):
        for key in data.get("keys", []):
            if "value_ref" in key:
                found.setdefault(key["value_ref"], []).append(f"providers.{name}.keys.{key['id']}")
    return found


def setting_references(environ: Mapping[str, str]) -> dict[str, list[str]]:
    """Each secret setting whose value is a reference: reference -> the variable's name."""
    found: dict[str, list[str]] = {}
    for name in SECRET_SETTINGS:
        value = environ.get(name, "")
        if is_reference(value):
            found.setdefault(value, []).append(name)
    return found
