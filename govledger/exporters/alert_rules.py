"""Alert rules beside budget thresholds: rate-limit rejections in a window, upstream error
rate, virtual keys expiring soon, Admin granted.

Each rule reads events and the fold's own tables (inside the consumer's transaction) and
answers the alerts it raises. Time is always the events' own: a replay of the same log
raises the same alerts with the same ids, so a crossing is sent once however often it is
folded. The consumers in `exporters.alerts` apply cooldowns and deliver.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from govledger.exporters.alert_channels import Alert
from govledger.ledger import events as ev
from govledger.ledger.access import ALL, BUILTIN_ROLES
from govledger.ledger.entities import GovernanceState, kind_and_action
from govledger.projections.database import Cursor

RATE_LIMITED = frozenset({"request_limited", "token_limited"})
SCHEMA = [
    """CREATE TABLE IF NOT EXISTS gl_alert_window (
        rule TEXT NOT NULL, subject TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
        bad BIGINT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS gl_alert_window_at ON gl_alert_window (rule, subject, at)",
    """CREATE TABLE IF NOT EXISTS gl_alert_firing (
        rule TEXT NOT NULL, subject TEXT NOT NULL, PRIMARY KEY (rule, subject))""",
    # One row per alert delivered to every channel; fired_at (the alert's event time, NULL
    # on rows written before it existed) is what retention of delivery records prunes by.
    "CREATE TABLE IF NOT EXISTS gl_alert_fired (alert_id TEXT PRIMARY KEY, fired_at TEXT)",
]


@dataclass(frozen=True)
class Rules:
    """Which rules run and their thresholds (a count or share of 0 turns a rule off)."""

    rate_limited: int = 10  # rejections (request_limited, token_limited) per key...
    rate_limited_window_s: float = 300.0  # ...within this many seconds
    error_rate: float = 0.5  # share of settled requests with status upstream_error...
    error_window_s: float = 300.0  # ...within this many seconds...
    error_min_count: int = 10  # ...once at least this many settled in the window
    expiry_days: float = 7.0  # a live virtual key expiring within this many days
    admin_grants: bool = True  # an admin token issued Admin, a role granted everything
    guardrail_blocks: int = 10  # blocks by one guardrail policy...
    guardrail_window_s: float = 300.0  # ...within this many seconds

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Rules:
        """Read GOVLEDGER_ALERT_* variables; defaults for those unset."""
        env = os.environ if env is None else env
        base = cls()

        def get(name: str, default: float) -> float:
            raw = env.get(f"GOVLEDGER_ALERT_{name}", "").strip()
            return float(raw) if raw else default

        return cls(
            rate_limited=int(get("RATE_LIMITED", base.rate_limited)),
            rate_limited_window_s=get("RATE_LIMITED_WINDOW_S", base.rate_limited_window_s),
            error_rate=get("ERROR_RATE", base.error_rate),
            error_window_s=get("ERROR_WINDOW_S", base.error_window_s),
            error_min_count=int(get("ERROR_MIN_COUNT", base.error_min_count)),
            expiry_days=get("KEY_EXPIRY_DAYS", base.expiry_days),
            admin_grants=env.get("GOVLEDGER_ALERT_ADMIN_GRANTS", "1").strip() not in {"0", ""},
            guardrail_blocks=int(get("GUARDRAIL_BLOCKS", base.guardrail_blocks)),
            guardrail_window_s=get("GUARDRAIL_WINDOW_S", base.guardrail_window_s),
        )


def create_tables(cur: Cursor) -> None:
    """Create the rules' tables if missing."""
    for statement in SCHEMA:
        cur.execute(statement)


def make_alert(
    alert_id: str,
    rule: str,
    subject: str,
    kind: str,
    at: datetime,
    data: dict[str, Any],
    action: str = "trigger",
    dedup_key: str = "",
) -> Alert:
    """An alert with its message id (`msg_` + 32 hex of SHA-256 of its id)."""
    stamp = at.astimezone(UTC).isoformat()
    detail = {"type": kind, "action": action, "timestamp": stamp, "data": data}
    msg_id = "msg_" + hashlib.sha256(alert_id.encode()).hexdigest()[:32]
    return Alert(alert_id, msg_id, rule, subject, detail, action, dedup_key)


def _event_id(event: ev.LedgerEvent) -> str:
    return f"{event.originator_id}:{event.originator_version}"


def _window(
    cur: Cursor, rule: str, subject: str, at: float, span: float, bad: int
) -> tuple[int, int]:
    """Add one observation and drop the expired; (count, bad count) within the window."""
    cur.execute(
        "INSERT INTO gl_alert_window (rule, subject, at, bad) VALUES (?, ?, ?, ?)",
        (rule, subject, at, bad),
    )
    cur.execute(
        "DELETE FROM gl_alert_window WHERE rule = ? AND subject = ? AND at <= ?",
        (rule, subject, at - span),
    )
    cur.execute(
        "SELECT COUNT(*), COALESCE(SUM(bad), 0) FROM gl_alert_window "
        "WHERE rule = ? AND subject = ?",
        (rule, subject),
    )
    found = cur.fetchone()
    return (int(found[0]), int(found[1])) if found else (0, 0)


def rate_limited(cur: Cursor, rules: Rules, event: ev.RequestRejected) -> list[Alert]:
    """A key's rate-limit rejections reaching `rate_limited` within the window."""
    if rules.rate_limited <= 0 or event.code not in RATE_LIMITED:
        return []
    subject = event.key_id or "unknown"
    at = event.timestamp
    count, _ = _window(cur, "rate_limited", subject, at.timestamp(), rules.rate_limited_window_s, 1)
    if count != rules.rate_limited:  # only the rejection that reaches the threshold
        return []
    data = {
        "key_id": event.key_id,
        "rejections": count,
        "threshold": rules.rate_limited,
        "window_s": rules.rate_limited_window_s,
        "last_code": event.code,
    }
    alert_id = f"rate_limited:{subject}:{_event_id(event)}"
    return [make_alert(alert_id, "rate_limited", subject, "rate_limit.rejections", at, data)]


def guardrail_blocks(cur: Cursor, rules: Rules, event: ev.GuardrailTriggered) -> list[Alert]:
    """A guardrail policy's blocks reaching `guardrail_blocks` within the window."""
    if rules.guardrail_blocks <= 0 or event.action != "block":
        return []
    subject = event.policy
    at = event.timestamp
    window = rules.guardrail_window_s
    count, _ = _window(cur, "guardrail_blocks", subject, at.timestamp(), window, 1)
    if count != rules.guardrail_blocks:  # only the block that reaches the threshold
        return []
    data = {
        "policy": event.policy,
        "blocks": count,
        "threshold": rules.guardrail_blocks,
        "window_s": window,
        "last_check": event.check,
        "last_category": event.category,
        "last_key_id": event.key_id,
    }
    alert_id = f"guardrail_blocks:{subject}:{_event_id(event)}"
    return [make_alert(alert_id, "guardrail_blocks", subject, "guardrail.blocks", at, data)]


def is_firing(cur: Cursor, rule: str, subject: str) -> bool:
    """True while a rule with a resolve (the error rate) is open for a subject."""
    cur.execute("SELECT 1 FROM gl_alert_firing WHERE rule = ? AND subject = ?", (rule, subject))
    return cur.fetchone() is not None


def set_firing(cur: Cursor, rule: str, subject: str, firing: bool) -> None:
    """Record a rule as open or closed for a subject."""
    cur.execute("DELETE FROM gl_alert_firing WHERE rule = ? AND subject = ?", (rule, subject))
    if firing:
        cur.execute("INSERT INTO gl_alert_firing (rule, subject) VALUES (?, ?)", (rule, subject))


def error_rate(cur: Cursor, rules: Rules, event: ev.RequestSettled) -> list[Alert]:
    """The share of upstream errors over the window: trigger above, resolve back below."""
    if rules.error_rate <= 0:
        return []
    subject, rule = "gateway", "upstream_error_rate"
    at = event.timestamp
    bad = int(event.status == "upstream_error")
    count, errors = _window(cur, rule, subject, at.timestamp(), rules.error_window_s, bad)
    share = errors / count if count else 0.0
    high = count >= rules.error_min_count and share >= rules.error_rate
    firing = is_firing(cur, rule, subject)
    if high == firing or (firing and share >= rules.error_rate):
        return []
    data = {
        "errors": errors,
        "requests": count,
        "share": round(share, 4),
        "threshold": rules.error_rate,
        "min_count": rules.error_min_count,
        "window_s": rules.error_window_s,
    }
    action = "trigger" if high else "resolve"
    alert_id = f"{rule}:{subject}:{action}:{_event_id(event)}"
    return [
        make_alert(
            alert_id, rule, subject, "upstream.error_rate", at, data, action, f"{rule}:{subject}"
        )
    ]


def expiring(state: GovernanceState, rules: Rules, at: datetime) -> list[Alert]:
    """Live virtual keys whose `expires_at` falls within `expiry_days` after `at`."""
    if rules.expiry_days <= 0:
        return []
    horizon = at + timedelta(days=rules.expiry_days)
    found = []
    for (kind, key_id), entity in sorted(state.entities.items()):
        if kind != "virtual_key" or entity.deleted or not entity.data.get("expires_at"):
            continue
        expires = datetime.fromisoformat(entity.data["expires_at"])
        if not at < expires <= horizon:
            continue
        data = {
            "key_id": key_id,
            "expires_at": expires.astimezone(UTC).isoformat(),
            "days_left": round((expires - at).total_seconds() / 86400, 2),
            "within_days": rules.expiry_days,
        }
        alert_id = f"key_expiring:{key_id}:{data['expires_at']}"
        found.append(make_alert(alert_id, "key_expiring", key_id, "virtual_key.expiring", at, data))
    return found


def covers_everything(permissions: Any) -> bool:
    """True if a list of permissions grants every `resource:operation` (that is, Admin)."""
    return isinstance(permissions, list) and frozenset(permissions) >= ALL


def admin_granted(prior: GovernanceState, rules: Rules, event: ev.EntityEvent) -> list[Alert]:
    """An admin token issued with Admin (or a role granting everything), or a role that now
    grants everything and did not before. `prior` is the state before the event."""
    if not rules.admin_grants or not isinstance(
        event, ev.AdminTokenIssued | ev.RoleCreated | ev.RoleUpdated
    ):
        return []
    kind, _ = kind_and_action(event)
    data = event.data
    if isinstance(event, ev.AdminTokenIssued):
        role = str(data.get("role", ""))
        custom = prior.get("role", role)
        if role != "Admin" and not (
            custom is not None and covers_everything(custom.get("permissions"))
        ):
            return []
        granted: dict[str, Any] = {"role": role}
    else:
        if not covers_everything(data.get("permissions")):
            return []
        before = prior.get("role", event.entity_id)
        if before is not None and covers_everything(before.get("permissions")):
            return []
        granted = {"permissions": sorted(BUILTIN_ROLES["Admin"])}
    body = {
        "resource_type": kind,
        "resource_id": event.entity_id,
        "version": event.originator_version,
        "actor": event.actor,
        "source": event.source,
        **granted,
    }
    alert_id = f"admin_grant:{kind}:{event.entity_id}:{event.originator_version}"
    return [
        make_alert(
            alert_id,
            "admin_grant",
            f"{kind}:{event.entity_id}",
            "access.admin_granted",
            event.timestamp,
            body,
        )
    ]


def secret_manager(event: ev.LedgerEvent) -> list[Alert]:
    """A referenced secret could not be fetched (trigger), or could again (resolve); one
    incident per reference, the reason and fingerprint in it, never the value."""
    if isinstance(event, ev.SecretFetchFailed):
        action, kind = "trigger", "secret.unavailable"
        data: dict[str, Any] = {
            "reference": event.reference,
            "reason": event.cause,
            "last_good_value_kept": event.kept,
            "fingerprint": event.fingerprint,
            "instance": event.seen_by,
        }
    elif isinstance(event, ev.SecretRestored):
        action, kind = "resolve", "secret.restored"
        data = {"reference": event.reference, "fingerprint": event.fingerprint}
    else:
        return []
    alert_id = f"secret:{event.reference}:{_event_id(event)}"
    return [
        make_alert(
            alert_id,
            "secret_unavailable",
            event.reference,
            kind,
            event.timestamp,
            data,
            action,
            dedup_key=f"secret:{event.reference}",
        )
    ]
