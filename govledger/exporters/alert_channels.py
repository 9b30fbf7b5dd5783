"""Alert channels beside the signed webhook: Slack, Microsoft Teams, PagerDuty, e-mail.

Each channel turns one `Alert` into its receiver's format and makes one attempt,
answering (delivered, status, error); retries, backoff and the record of every attempt
are the caller's (`exporters.alerts.deliver`). `Alert.action` is `trigger` or `resolve`;
only PagerDuty acts on a resolve (same `dedup_key`), the others post it as a message.
"""

from __future__ import annotations

import smtplib
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol

import orjson

from govledger.ledger.secrets.live import Secret, current

PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
Attempt = tuple[bool, int, str]


@dataclass(frozen=True)
class Alert:
    """One alert: its stable id (rule, subject, crossing), what it says, trigger or resolve."""

    id: str  # e.g. budget_threshold:<budget>:<period>:<level>
    msg_id: str  # msg_<hash of id>: the same on every attempt and every channel
    rule: str
    subject: str
    detail: dict[str, Any]  # {type, timestamp, data}: the generic webhook's body
    action: str = "trigger"  # trigger | resolve
    dedup_key: str = ""  # what a resolve closes (PagerDuty); defaults to the id

    @property
    def key(self) -> str:
        """The deduplication key of the incident this alert opens or closes."""
        return self.dedup_key or self.id


class Channel(Protocol):
    """Where alerts go: a name (recorded with each attempt), retries, one attempt."""

    name: str
    attempts: int
    backoff_s: float

    def send(self, alert: Alert) -> Attempt:
        """One attempt to deliver an alert."""


def summary(alert: Alert) -> str:
    """One line saying what happened, for chat, pager and e-mail subjects."""
    data = alert.detail.get("data", {})
    kind = str(alert.detail.get("type", alert.rule))
    if alert.action == "resolve":
        return f"Resolved: {kind} for {alert.subject}"
    texts = {
        "budget.threshold_crossed": lambda: (
            f"Budget {data.get('budget')} reached {data.get('threshold_percent')}% "
            f"({data.get('settled_usd')} of {data.get('limit_usd')} USD)"
        ),
        "rate_limit.rejections": lambda: (
            f"{data.get('rejections')} rate-limit rejections for key {data.get('key_id')} "
            f"within {data.get('window_s')} s"
        ),
        "upstream.error_rate": lambda: (
            f"Upstream error rate {data.get('share')} ({data.get('errors')} of "
            f"{data.get('requests')} requests within {data.get('window_s')} s)"
        ),
        "virtual_key.expiring": lambda: (
            f"Virtual key {data.get('key_id')} expires at {data.get('expires_at')}"
        ),
        "guardrail.blocks": lambda: (
            f"{data.get('blocks')} blocks by guardrail policy {data.get('policy')} "
            f"within {data.get('window_s')} s (last: {data.get('last_category')})"
        ),
        "access.admin_granted": lambda: (
            f"Admin granted: {data.get('resource_type')} {data.get('resource_id')} "
            f"by {data.get('actor')}"
        ),
    }
    text = texts.get(kind)
    return text() if text else f"{kind} for {alert.subject}"


def post_json(url: str, body: Any, headers: dict[str, str] | None = None) -> Attempt:
    """POST a JSON body; a 2xx answer is delivered."""
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    sent = {"Content-Type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, payload, sent, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return True, int(response.status), ""
    except urllib.error.HTTPError as failed:
        return False, failed.code, f"HTTP {failed.code}"
    except OSError as failed:
        return False, 0, str(failed)[:200]


def _facts(alert: Alert) -> list[tuple[str, str]]:
    data = alert.detail.get("data", {})
    facts = [("rule", alert.rule), ("subject", alert.subject), ("action", alert.action)]
    facts += [(str(k), str(v)) for k, v in sorted(data.items())]
    return facts + [("time", str(alert.detail.get("timestamp", "")))]


@dataclass
class Slack:
    """A Slack incoming webhook: `text` (the fallback) and a section block with the facts."""

    url: str
    attempts: int = 3
    backoff_s: float = 0.5
    name: str = "slack"

    def payload(self, alert: Alert) -> dict[str, Any]:
        """The message body."""
        lines = "\n".join(f"*{k}*: {v}" for k, v in _facts(alert))
        return {
            "text": summary(alert),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": summary(alert)[:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": lines}},
            ],
        }

    def send(self, alert: Alert) -> Attempt:
        """One attempt."""
        return post_json(self.url, self.payload(alert))


@dataclass
class Teams:
    """A Microsoft Teams (Workflows or incoming) webhook, posting an Adaptive Card."""

    url: str
    attempts: int = 3
    backoff_s: float = 0.5
    name: str = "teams"

    def payload(self, alert: Alert) -> dict[str, Any]:
        """A message with one Adaptive Card attachment."""
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {
                    "type": "TextBlock",
                    "text": summary(alert),
                    "weight": "Bolder",
                    "size": "Medium",
                    "wrap": True,
                },
                {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in _facts(alert)]},
            ],
        }
        return {
            "type": "message",
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": None,
                    "content": card,
                }
            ],
        }

    def send(self, alert: Alert) -> Attempt:
        """One attempt."""
        return post_json(self.url, self.payload(alert))


@dataclass
class PagerDuty:
    """PagerDuty Events API v2: trigger and resolve, both carrying the alert's dedup_key."""

    routing_key: Secret  # or what reads it (a reference, docs/secrets.md)
    url: str = PAGERDUTY_URL
    attempts: int = 3
    backoff_s: float = 0.5
    name: str = "pagerduty"
    critical: frozenset[str] = field(
        default_factory=lambda: frozenset({"upstream_error_rate", "admin_grant"})
    )

    def payload(self, alert: Alert) -> dict[str, Any]:
        """The event: a resolve names only the dedup_key, a trigger says what and how bad."""
        body: dict[str, Any] = {
            "routing_key": current(self.routing_key),
            "event_action": alert.action,
            "dedup_key": alert.key,
        }
        if alert.action == "trigger":
            body["payload"] = {
                "summary": summary(alert)[:1024],
                "source": "govledger",
                "severity": "critical" if alert.rule in self.critical else "warning",
                "timestamp": alert.detail.get("timestamp"),
                "component": alert.subject,
                "class": alert.rule,
                "custom_details": alert.detail.get("data", {}),
            }
        return body

    def send(self, alert: Alert) -> Attempt:
        """One attempt (PagerDuty answers 202 Accepted)."""
        return post_json(self.url, self.payload(alert))


@dataclass
class Email:
    """E-mail over SMTP: `smtp://[user:password@]host[:port]` (STARTTLS with `smtp+starttls`,
    implicit TLS with `smtps`); the summary as subject, the facts and the JSON as body."""

    url: Secret  # the password is in it: may be what reads a reference (docs/secrets.md)
    sender: str
    recipients: tuple[str, ...]
    attempts: int = 3
    backoff_s: float = 0.5
    name: str = "email"

    def message(self, alert: Alert) -> EmailMessage:
        """The message; its Message-ID derives from the alert's id, for deduplication."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Subject"] = "[govledger] " + summary(alert)
        message["Message-ID"] = f"<{alert.msg_id}.{alert.action}@govledger>"
        facts = "\n".join(f"{k}: {v}" for k, v in _facts(alert))
        detail = orjson.dumps(alert.detail, option=orjson.OPT_INDENT_2).decode()
        message.set_content(f"{summary(alert)}\n\n{facts}\n\n{detail}\n")
        return message

    def send(self, alert: Alert) -> Attempt:
        """One attempt: (True, 250, "") once the server accepted the message."""
        parts = urllib.parse.urlsplit(current(self.url))
        host, port = parts.hostname or "localhost", parts.port
        try:
            if parts.scheme == "smtps":
                server: smtplib.SMTP = smtplib.SMTP_SSL(host, port or 465, timeout=10)
            else:
                server = smtplib.SMTP(host, port or 25, timeout=10)
            with server:
                if parts.scheme == "smtp+starttls":
                    server.starttls()
                if parts.username:
                    password = urllib.parse.unquote(parts.password or "")
                    server.login(urllib.parse.unquote(parts.username), password)
                refused = server.send_message(self.message(alert))
        except smtplib.SMTPResponseException as failed:
            return False, failed.smtp_code, str(failed.smtp_error)[:200]
        except (smtplib.SMTPException, OSError) as failed:
            return False, 0, str(failed)[:200]
        if refused:
            return False, 550, f"refused: {', '.join(sorted(refused))}"[:200]
        return True, 250, ""
