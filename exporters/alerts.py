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
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from eventsourcing.persistence import Notification

from exporters.consumer import Decode
from exporters.prometheus import budget_rules_of
from ledger import events as ev
from ledger.entities import GovernanceState, kind_and_action
from ledger.store import Store
from projections.database import Cursor, ViewDatabase

NAMESPACE = uuid.UUID("6f1d3c52-0d4e-4a8e-9b7a-3c0e2f6a9d11")
SCHEMA = [
    """CREATE TABLE IF NOT EXISTS gl_alert_budget (
        budget TEXT NOT NULL, period TEXT NOT NULL, settled TEXT NOT NULL,
        PRIMARY KEY (budget, period))""",
    """CREATE TABLE IF NOT EXISTS gl_alert_last (
        budget TEXT NOT NULL, level BIGINT NOT NULL, at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (budget, level))""",
]


class DeliveryError(RuntimeError):
    """The webhook did not accept an alert after every retry."""


def create_tables(db: ViewDatabase) -> None:
    """Create the alert fold's tables if they are missing."""
    with db.transaction() as cur:
        for statement in SCHEMA:
            cur.execute(statement)


def sign(secret: str, msg_id: str, timestamp: int, payload: bytes) -> str:
    """The Standard Webhooks signature header value (`v1,<base64>`) for one message."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + payload
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


@dataclass
class Webhook:
    """A generic webhook channel signed per Standard Webhooks."""

    url: str
    secret: str  # whsec_<base64>
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
            "webhook-signature": sign(self.secret, msg_id, stamp, payload),
        }
        request = urllib.request.Request(self.url, payload, headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return True, int(response.status), ""
        except urllib.error.HTTPError as failed:
            return False, failed.code, f"HTTP {failed.code}"
        except OSError as failed:
            return False, 0, str(failed)[:200]


@dataclass
class BudgetAlerts:
    """The usage consumer that turns threshold crossings into delivered alerts."""

    store: Store
    channel: Webhook
    thresholds: tuple[int, ...] = (50, 80, 100)
    cooldown_s: float = 0.0
    name: str = "alerts"
    app: str = "usage"
    state: GovernanceState = field(default_factory=GovernanceState)

    def process(self, cur: Cursor, notes: Sequence[Notification], decode: Decode) -> None:
        """Fold the batch's charges; send each crossing (raises DeliveryError to retry)."""
        self._load_governance()
        limits = {r.id: r.limit for r in budget_rules_of(self.state, 1_000_000)[0]}
        totals: dict[tuple[str, str], Decimal] = {}
        for note in notes:
            event = decode(note)
            if not isinstance(event, ev.RequestSettled | ev.RequestAbandoned):
                continue
            for charge in event.charges:
                key = (charge["budget"], charge["period"])
                if key not in totals:
                    totals[key] = self._settled(cur, *key)
                before = totals[key]
                after = totals[key] = before + Decimal(str(charge["amount"]))
                limit = limits.get(key[0])
                if limit is None or limit <= 0:
                    continue
                for level in self.thresholds:
                    line = limit * level / 100
                    if before < line <= after:
                        self._alert(cur, key[0], key[1], level, limit, after, event.timestamp)
        for (budget, period), settled in totals.items():
            cur.execute(
                "INSERT INTO gl_alert_budget (budget, period, settled) VALUES (?, ?, ?) "
                "ON CONFLICT (budget, period) DO UPDATE SET settled = excluded.settled",
                (budget, period, str(settled)),
            )

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
                "limit_usd": str(limit),
                "settled_usd": str(settled),
            },
        }
        self.deliver(alert_id, budget, detail)
        cur.execute(
            "INSERT INTO gl_alert_last (budget, level, at) VALUES (?, ?, ?) "
            "ON CONFLICT (budget, level) DO UPDATE SET at = excluded.at",
            (budget, level, now),
        )

    def deliver(self, alert_id: str, subject: str, detail: dict[str, Any]) -> None:
        """Send once: skip if the log says delivered; record every attempt as an event."""
        stream = uuid.uuid5(NAMESPACE, alert_id)
        tried = self.store.governance.recorder.select_events(stream)
        version = len(tried)
        decode = self.store.governance.mapper.to_domain_event
        if any(getattr(decode(stored), "outcome", "") == "delivered" for stored in tried):
            return
        msg_id = "msg_" + hashlib.sha256(alert_id.encode()).hexdigest()[:32]
        payload = orjson.dumps(detail)
        for attempt in range(self.channel.attempts):
            if attempt:
                time.sleep(self.channel.backoff_s * 2 ** (attempt - 1))
            delivered, status, error = self.channel.post(msg_id, payload)
            version += 1
            self.store.governance.save(
                ev.AlertDeliveryAttempted(
                    originator_id=stream,
                    originator_version=version,
                    timestamp=datetime.now(UTC),
                    actor="system",
                    source="alerts",
                    alert_id=msg_id,
                    rule="budget_threshold",
                    subject=subject,
                    detail=detail,
                    channel=self.channel.name,
                    outcome="delivered" if delivered else "failed",
                    status=status,
                    error=error,
                )
            )
            if delivered:
                return
        raise DeliveryError(f"alert {alert_id} not delivered: {error}")
