"""Budget threshold alerts, evaluated on the usage stream and sent as signed webhooks.

The `alerts` consumer folds each budget's settled amount per period from the charges of
settled and abandoned requests; when a charge carries it across a threshold (default 50,
80 and 100 % of the limit) that is a *crossing*, identified by budget, period and level.
Each crossing is one alert with a stable id, sent to the webhook signed per Standard
Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
id.timestamp.payload>`). Every attempt is appended as an `AlertDeliveryAttempted` event;
one marked delivered means never again, even if the process died before its position
committed. Failed deliveries retry with backoff; if they still fail, the batch stays
unprocessed and is retried on the next wake-up (also after a restart). A cooldown keeps
the same level of the same budget from alerting again within `cooldown_s` (event time).

The same consumer runs the usage rules of `exporters.alert_rules` (rate-limit rejections
in a window, upstream error rate, keys expiring seen at each batch's last event time);
`GovernanceAlerts` follows the governance log for Admin grants and keys expiring. Every
alert goes to each configured channel (`exporters.alert_channels`); an attempt is
recorded per channel, and a channel that has delivered an alert is never sent it again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from eventsourcing.persistence import Notification

from govledger.exporters import alert_rules
from govledger.exporters.alert_channels import (
    PAGERDUTY_URL,
    Alert,
    Attempt,
    Channel,
    Email,
    PagerDuty,
    Slack,
    Teams,
    post_json,
)
from govledger.exporters.alert_rules import Rules
from govledger.exporters.consumer import Decode
from govledger.exporters.prometheus import budget_rules_of
from govledger.ledger import events as ev
from govledger.ledger.charges import charges_of
from govledger.ledger.entities import GovernanceState, kind_and_action
from govledger.ledger.money import plain
from govledger.ledger.secrets.live import Secret, current, secret_setting
from govledger.ledger.secrets.resolver import SecretUnavailableError
from govledger.ledger.store import Store
from govledger.projections.database import Cursor, OnRebuild, ViewDatabase

log = logging.getLogger("govledger")
NAMESPACE = uuid.UUID("6f1d3c52-0d4e-4a8e-9b7a-3c0e2f6a9d11")
SCHEMA = [
    """CREATE TABLE IF NOT EXISTS gl_alert_budget (
        budget TEXT NOT NULL, period TEXT NOT NULL, settled TEXT NOT NULL,
        PRIMARY KEY (budget, period))""",
    """CREATE TABLE IF NOT EXISTS gl_alert_last (
        budget TEXT NOT NULL, level BIGINT NOT NULL, at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (budget, level))""",
]
_SENDING = threading.Lock()  # the usage and governance consumers share alert streams


class DeliveryError(RuntimeError):
    """The webhook did not accept an alert after every retry."""


def create_tables(db: ViewDatabase) -> None:
    """Create the alert fold's tables if they are missing."""
    with db.transaction() as cur:
        for statement in SCHEMA:
            cur.execute(statement)
        alert_rules.create_tables(cur)
        add_fired_at(cur, db.is_postgres)


def add_fired_at(cur: Cursor, is_postgres: bool) -> None:
    """Give a gl_alert_fired table created before `fired_at` existed that column."""
    if is_postgres:
        cur.execute("ALTER TABLE gl_alert_fired ADD COLUMN IF NOT EXISTS fired_at TEXT")
        return
    cur.execute("SELECT name FROM pragma_table_info('gl_alert_fired')")
    if "fired_at" not in {str(row[0]) for row in cur.fetchall()}:
        cur.execute("ALTER TABLE gl_alert_fired ADD COLUMN fired_at TEXT")


def drop_delivered_before(cur: Cursor, cutoff: datetime) -> int:
    """Retention of delivery records: the fired-alert rows of alerts before the cutoff go.

    Safe for the never-twice promise: `deliver` skips every channel with a `delivered`
    attempt in the alert's event stream, and the events are kept."""
    done = cur.execute(
        "DELETE FROM gl_alert_fired WHERE fired_at IS NOT NULL AND fired_at < ?",
        (cutoff.astimezone(UTC).isoformat(),),
    )
    return int(done.rowcount)


def sign(secret: str, msg_id: str, timestamp: int, payload: bytes) -> str:
    """The Standard Webhooks signature header value (`v1,<base64>`) for one message."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + payload
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


@dataclass
class Webhook:
    """A generic webhook channel signed per Standard Webhooks."""

    url: str
    secret: Secret  # whsec_<base64>, or what reads it (a reference, docs/secrets.md)
    attempts: int = 3
    backoff_s: float = 0.5
    clock: Callable[[], float] = time.time
    name: str = "webhook"

    def post(self, msg_id: str, payload: bytes) -> tuple[bool, int, str]:
        """One attempt: (delivered, HTTP status, error)."""
        stamp = int(self.clock())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(current(self.secret), msg_id, stamp, payload),
        }
        return post_json(self.url, payload, headers)

    def send(self, alert: Alert) -> Attempt:
        """One attempt: the alert's detail as the body, its msg_id as webhook-id."""
        return self.post(alert.msg_id, orjson.dumps(alert.detail))


def deliver(store: Store, channels: Sequence[Channel], alert: Alert) -> None:
    """Send an alert to each channel that has not delivered it; record every attempt.

    The alert's stream (`uuid5` of its id) holds one `AlertDeliveryAttempted` per attempt;
    a channel with a `delivered` attempt there is skipped. Raises DeliveryError if a
    channel still failed after its retries (the others have been tried all the same).
    """
    with _SENDING:
        stream = uuid.uuid5(NAMESPACE, alert.id)
        tried = store.governance.recorder.select_events(stream)
        version = len(tried)
        decode = store.governance.mapper.to_domain_event
        done = {
            event.channel
            for event in map(decode, tried)
            if isinstance(event, ev.AlertDeliveryAttempted) and event.outcome == "delivered"
        }
        failures = []
        for channel in channels:
            if channel.name in done:
                continue
            error = ""
            for attempt in range(channel.attempts):
                if attempt:
                    time.sleep(channel.backoff_s * 2 ** (attempt - 1))
                delivered, status, error = channel.send(alert)
                version += 1
                store.governance.save(
                    ev.AlertDeliveryAttempted(
                        originator_id=stream,
                        originator_version=version,
                        timestamp=datetime.now(UTC),
                        actor="system",
                        source="alerts",
                        alert_id=alert.msg_id,
                        rule=alert.rule,
                        subject=alert.subject,
                        detail=alert.detail,
                        channel=channel.name,
                        outcome="delivered" if delivered else "failed",
                        status=status,
                        error=error,
                    )
                )
                if delivered:
                    break
            else:
                failures.append(f"{channel.name}: {error}")
        if failures:
            raise DeliveryError(f"alert {alert.id} not delivered: {'; '.join(failures)}")


def fire(
    store: Store, channels: Sequence[Channel], cur: Cursor, alert: Alert, cooldown_s: float
) -> bool:
    """Deliver a rule's alert unless already fired, or a trigger within the cooldown of
    the last one of its rule and subject (event time); True if it was delivered now."""
    cur.execute("SELECT 1 FROM gl_alert_fired WHERE alert_id = ?", (alert.id,))
    if cur.fetchone() is not None:
        return False
    at = datetime.fromisoformat(str(alert.detail["timestamp"])).timestamp()
    last = f"{alert.rule}:{alert.subject}"
    if alert.action == "trigger":
        cur.execute("SELECT at FROM gl_alert_last WHERE budget = ? AND level = 0", (last,))
        found = cur.fetchone()
        if found is not None and at - float(found[0]) < cooldown_s:
            return False
    deliver(store, channels, alert)
    cur.execute(
        "INSERT INTO gl_alert_fired (alert_id, fired_at) VALUES (?, ?)",
        (alert.id, str(alert.detail["timestamp"])),
    )
    if alert.action == "trigger":
        cur.execute(
            "INSERT INTO gl_alert_last (budget, level, at) VALUES (?, 0, ?) "
            "ON CONFLICT (budget, level) DO UPDATE SET at = excluded.at",
            (last, at),
        )
    return True


def _channels(channel: Channel | Sequence[Channel]) -> list[Channel]:
    return list(channel) if isinstance(channel, Sequence) else [channel]


@dataclass
class BudgetAlerts:
    """The usage consumer: budget threshold crossings and the usage rules, delivered."""

    store: Store
    channel: Channel | Sequence[Channel]
    thresholds: tuple[int, ...] = (50, 80, 100)
    cooldown_s: float = 0.0
    name: str = "alerts"
    app: str = "usage"
    on_rebuild: OnRebuild = "keep"  # delivery: a rebuild never alerts again
    tables: tuple[str, ...] = (
        "gl_alert_budget",
        "gl_alert_last",
        "gl_alert_window",
        "gl_alert_firing",
        "gl_alert_fired",
    )
    state: GovernanceState = field(default_factory=GovernanceState)
    rules: Rules = field(default_factory=Rules)

    @property
    def channels(self) -> list[Channel]:
        """Every channel an alert goes to."""
        return _channels(self.channel)

    def process(self, cur: Cursor, notes: Sequence[Notification], decode: Decode) -> None:
        """Fold the batch's charges and rules; send each crossing (DeliveryError: retry)."""
        self._load_governance()
        limits = {r.id: r.limit for r in budget_rules_of(self.state, 1_000_000)[0]}
        totals: dict[tuple[str, str], Decimal] = {}
        last: datetime | None = None
        for note in notes:
            event = decode(note)
            last = event.timestamp
            if isinstance(event, ev.RequestRejected):
                self._fire(cur, alert_rules.rate_limited(cur, self.rules, event))
            if isinstance(event, ev.RequestSettled):
                self._fire(cur, alert_rules.error_rate(cur, self.rules, event))
            if isinstance(event, ev.GuardrailTriggered):
                self._fire(cur, alert_rules.guardrail_blocks(cur, self.rules, event))
            if not isinstance(event, ev.RequestSettled | ev.RequestAbandoned):
                continue
            for charge in charges_of(event.charges):
                key = (charge.budget, charge.period)
                if key not in totals:
                    totals[key] = self._settled(cur, *key)
                before = totals[key]
                after = totals[key] = before + charge.amount
                limit = limits.get(key[0])
                if limit is None or limit <= 0:
                    continue
                for level in self.thresholds:
                    line = limit * level / 100
                    if before < line <= after:
                        self._alert(cur, key[0], key[1], level, limit, after, event.timestamp)
        if last is not None:  # keys expiring, as of the batch's last event
            self._fire(cur, alert_rules.expiring(self.state, self.rules, last))
        for (budget, period), settled in totals.items():
            cur.execute(
                "INSERT INTO gl_alert_budget (budget, period, settled) VALUES (?, ?, ?) "
                "ON CONFLICT (budget, period) DO UPDATE SET settled = excluded.settled",
                (budget, period, plain(settled)),
            )

    def _fire(self, cur: Cursor, alerts: list[Alert]) -> None:
        for alert in alerts:
            sent = fire(self.store, self.channels, cur, alert, self.cooldown_s)
            if alert.rule == "upstream_error_rate" and sent:
                alert_rules.set_firing(cur, alert.rule, alert.subject, alert.action == "trigger")

    def _load_governance(self) -> None:
        for position, event in self.store.iterate("governance", self.state.position):
            if isinstance(event, ev.EntityEvent):
                kind, _ = kind_and_action(event)
                if event.originator_version > self.state.version(kind, event.entity_id):
                    self.state.apply(event)
            self.state.position = position

    @staticmethod
    def _settled(cur: Cursor, budget: str, period: str) -> Decimal:
        cur.execute(
            "SELECT settled FROM gl_alert_budget WHERE budget = ? AND period = ?", (budget, period)
        )
        found = cur.fetchone()
        return Decimal(found[0]) if found else Decimal(0)

    def _alert(
        self,
        cur: Cursor,
        budget: str,
        period: str,
        level: int,
        limit: Decimal,
        settled: Decimal,
        at: datetime,
    ) -> None:
        cur.execute("SELECT at FROM gl_alert_last WHERE budget = ? AND level = ?", (budget, level))
        found = cur.fetchone()
        now = at.timestamp()
        if found is not None and now - float(found[0]) < self.cooldown_s:
            return
        alert_id = f"budget_threshold:{budget}:{period}:{level}"
        detail = {
            "type": "budget.threshold_crossed",
            "timestamp": at.astimezone(UTC).isoformat(),
            "data": {
                "budget": budget,
                "period": period,
                "threshold_percent": level,
                "limit_usd": plain(limit),
                "settled_usd": plain(settled),
            },
        }
        self.deliver(alert_id, budget, detail)
        cur.execute(
            "INSERT INTO gl_alert_last (budget, level, at) VALUES (?, ?, ?) "
            "ON CONFLICT (budget, level) DO UPDATE SET at = excluded.at",
            (budget, level, now),
        )

    def deliver(self, alert_id: str, subject: str, detail: dict[str, Any]) -> None:
        """Send a budget alert once per channel; record every attempt as an event."""
        msg_id = "msg_" + hashlib.sha256(alert_id.encode()).hexdigest()[:32]
        alert = Alert(alert_id, msg_id, "budget_threshold", subject, detail)
        deliver(self.store, self.channels, alert)


@dataclass
class GovernanceAlerts:
    """The governance consumer: Admin grants, and keys expiring as of each change's time.

    Its governance state is folded exactly up to the event being evaluated (from the log,
    after a restart), so an evaluation depends on the log alone.
    """

    store: Store
    channel: Channel | Sequence[Channel]
    rules: Rules = field(default_factory=Rules)
    cooldown_s: float = 0.0
    name: str = "alerts_governance"
    app: str = "governance"
    on_rebuild: OnRebuild = "keep"  # delivery: a rebuild never alerts again
    tables: tuple[str, ...] = ("gl_alert_fired", "gl_alert_last")
    state: GovernanceState = field(default_factory=GovernanceState)

    def process(self, cur: Cursor, notes: Sequence[Notification], decode: Decode) -> None:
        """Evaluate each governance change (DeliveryError: the batch is retried)."""
        if self.state.position > notes[0].id - 1:
            self.state = GovernanceState()  # retried batch: fold again from the start
        for position, event in self.store.iterate(
            "governance", self.state.position, notes[0].id - 1
        ):
            self._apply(event)
            self.state.position = position
        channels = _channels(self.channel)
        for note in notes:
            event = decode(note)
            for alert in alert_rules.secret_manager(event):
                fire(self.store, channels, cur, alert, self.cooldown_s)
            if isinstance(event, ev.EntityEvent):
                for alert in alert_rules.admin_granted(self.state, self.rules, event):
                    fire(self.store, channels, cur, alert, self.cooldown_s)
                self._apply(event)
                for alert in alert_rules.expiring(self.state, self.rules, event.timestamp):
                    fire(self.store, channels, cur, alert, self.cooldown_s)
            self.state.position = note.id

    def _apply(self, event: ev.LedgerEvent) -> None:
        if isinstance(event, ev.EntityEvent):
            kind, _ = kind_and_action(event)
            if event.originator_version > self.state.version(kind, event.entity_id):
                self.state.apply(event)


SECRET_CHANNEL_SETTINGS = (
    "GOVLEDGER_ALERT_WEBHOOK_SECRET",
    "GOVLEDGER_ALERT_PAGERDUTY_ROUTING_KEY",
    "GOVLEDGER_ALERT_SMTP_URL",
)


def _secrets(env: dict[str, str]) -> dict[str, Secret]:
    """Each secret setting: its literal, or what reads a reference's current value (fetched
    again after its TTL, so a rotation needs no restart). One that cannot be resolved leaves
    its channel out, with one error line naming it (a webhook is never sent unsigned)."""
    found: dict[str, Secret] = {}
    for name in SECRET_CHANNEL_SETTINGS:
        if not env.get(name):
            continue
        try:
            found[name] = secret_setting(env, name)
        except SecretUnavailableError as error:
            log.error("alert channel left out: %s", error)
    return found


def channels_from_env(env: dict[str, str] | None = None) -> list[Channel]:
    """The channels configured by GOVLEDGER_ALERT_* variables (none: alerts are off)."""
    env = dict(os.environ) if env is None else env
    secrets = _secrets(env)
    found: list[Channel] = []
    webhook_secret = env.get("GOVLEDGER_ALERT_WEBHOOK_SECRET", "")
    if env.get("GOVLEDGER_ALERT_WEBHOOK_URL") and (
        not webhook_secret or "GOVLEDGER_ALERT_WEBHOOK_SECRET" in secrets
    ):
        secret = secrets.get("GOVLEDGER_ALERT_WEBHOOK_SECRET", "")
        found.append(Webhook(env["GOVLEDGER_ALERT_WEBHOOK_URL"], secret))
    if env.get("GOVLEDGER_ALERT_SLACK_URL"):
        found.append(Slack(env["GOVLEDGER_ALERT_SLACK_URL"]))
    if env.get("GOVLEDGER_ALERT_TEAMS_URL"):
        found.append(Teams(env["GOVLEDGER_ALERT_TEAMS_URL"]))
    if "GOVLEDGER_ALERT_PAGERDUTY_ROUTING_KEY" in secrets:
        url = env.get("GOVLEDGER_ALERT_PAGERDUTY_URL") or PAGERDUTY_URL
        found.append(PagerDuty(secrets["GOVLEDGER_ALERT_PAGERDUTY_ROUTING_KEY"], url))
    if "GOVLEDGER_ALERT_SMTP_URL" in secrets:
        recipients = tuple(
            a.strip() for a in env.get("GOVLEDGER_ALERT_SMTP_TO", "").split(",") if a.strip()
        )
        sender = env.get("GOVLEDGER_ALERT_SMTP_FROM", "govledger@localhost")
        found.append(Email(secrets["GOVLEDGER_ALERT_SMTP_URL"], sender, recipients))
    return found


def consumers_from_env(
    store: Store, env: dict[str, str] | None = None
) -> list[BudgetAlerts | GovernanceAlerts]:
    """The usage and governance alert consumers, if any channel is configured."""
    env = dict(os.environ) if env is None else env
    channels = channels_from_env(env)
    if not channels:
        return []
    levels = env.get("GOVLEDGER_ALERT_THRESHOLDS", "50,80,100")
    cooldown = float(env.get("GOVLEDGER_ALERT_COOLDOWN_S", "0"))
    rules = Rules.from_env(env)
    thresholds = tuple(int(level) for level in levels.split(",") if level.strip())
    return [
        BudgetAlerts(store, channels, thresholds, cooldown, rules=rules),
        GovernanceAlerts(store, channels, rules, cooldown),
    ]
