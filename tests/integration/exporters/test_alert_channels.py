"""Alert channels against local receivers: Slack incoming webhook, Microsoft Teams
Adaptive Card, PagerDuty Events v2, e-mail over SMTP (aiosmtpd in-process); with several
channels, one that fails is retried alone and the others are not sent the alert again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from govledger.exporters.alert_channels import Alert, Email, PagerDuty, Slack, Teams
from govledger.exporters.alert_rules import make_alert
from govledger.exporters.alerts import DeliveryError, Webhook, deliver
from govledger.ledger import events as ev
from govledger.ledger.store import Store
from tests.conftest import free_port
from tests.integration.exporters.alert_support import Receiver, serving
from tests.integration.exporters.test_alert_rules import SECRET, T0

DATA = {"key_id": "exp", "rejections": 3, "threshold": 3, "window_s": 60, "last_code": "x"}


def an_alert() -> Alert:
    """A rate-limit alert."""
    return make_alert(
        "rate_limited:exp:1", "rate_limited", "exp", "rate_limit.rejections", T0, dict(DATA)
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver that accepts everything."""
    with serving(Receiver()) as target:
        yield target


class Inbox:
    """An aiosmtpd handler keeping each message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        content = envelope.original_content or envelope.content
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(content))
        )
        return "250 OK"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    """An SMTP server on a local port and what it received."""
    handler, port = Inbox(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def test_slack_gets_a_text_and_blocks_message(receiver: Receiver) -> None:
    delivered = Slack(receiver.url("/services/T/B/X")).send(an_alert())

    (body,) = receiver.bodies()
    assert delivered == (True, 200, "")
    assert body["text"].startswith("3 rate-limit rejections for key exp")
    assert [b["type"] for b in body["blocks"]] == ["header", "section"]
    assert body["blocks"][1]["text"]["type"] == "mrkdwn"
    assert "*rule*: rate_limited" in body["blocks"][1]["text"]["text"]


def test_teams_gets_a_message_with_one_adaptive_card(receiver: Receiver) -> None:
    Teams(receiver.url("/workflows/x")).send(an_alert())

    (body,) = receiver.bodies()
    (attachment,) = body["attachments"]
    card = attachment["content"]
    assert body["type"] == "message"
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["body"][0]["type"] == "TextBlock"
    facts = {f["title"]: f["value"] for f in card["body"][1]["facts"]}
    assert facts["key_id"] == "exp" and facts["rule"] == "rate_limited"


def test_pagerduty_gets_a_trigger_with_a_dedup_key_and_answers_202() -> None:
    with serving(Receiver(ok=202)) as target:
        delivered = PagerDuty("rk", target.url("/v2/enqueue")).send(an_alert())
    (body,) = target.bodies()

    assert delivered == (True, 202, "")
    assert body["routing_key"] == "rk" and body["event_action"] == "trigger"
    assert body["dedup_key"] == "rate_limited:exp:1"
    assert body["payload"]["severity"] == "warning"
    assert body["payload"]["timestamp"] == T0.isoformat()
    assert body["payload"]["custom_details"] == DATA
    assert target.got[0]["headers"]["content-type"] == "application/json"


def test_email_is_sent_over_smtp_with_the_summary_as_subject(inbox: tuple[Inbox, int]) -> None:
    handler, port = inbox
    channel = Email(f"smtp://127.0.0.1:{port}", "gl@x.test", ("oncall@x.test", "sec@x.test"))

    delivered = channel.send(an_alert())

    ((sender, recipients, message),) = handler.messages
    body = message.get_payload(decode=True)
    assert delivered == (True, 250, "")
    assert (sender, recipients) == ("gl@x.test", ["oncall@x.test", "sec@x.test"])
    assert message["Subject"].startswith("[govledger] 3 rate-limit rejections for key exp")
    assert message["Message-ID"] == f"<{an_alert().msg_id}.trigger@govledger>"
    assert isinstance(body, bytes) and b'"rate_limit.rejections"' in body


def test_email_to_an_absent_server_is_a_failed_attempt() -> None:
    channel = Email(f"smtp://127.0.0.1:{free_port()}", "gl@x.test", ("a@x.test",))

    delivered, status, error = channel.send(an_alert())

    assert (delivered, status) == (False, 0) and error


def test_a_failing_channel_is_retried_alone_and_the_others_get_the_alert_once(
    sqlite_url: str, receiver: Receiver
) -> None:
    store = Store(sqlite_url)
    slack = Slack(receiver.url("/slack"), backoff_s=0.01)
    pager = PagerDuty("rk", receiver.url("/pd"), attempts=2, backoff_s=0.01)
    receiver.statuses = [200, 500, 500]  # slack, then pagerduty twice

    with pytest.raises(DeliveryError):
        deliver(store, [slack, pager], an_alert())
    deliver(store, [slack, pager], an_alert())
    deliver(store, [slack, pager], an_alert())  # everything delivered: nothing is sent
    tried = [e for _, e in store.iterate("governance") if isinstance(e, ev.AlertDeliveryAttempted)]
    store.close()

    assert [r["path"] for r in receiver.got] == ["/slack", "/pd", "/pd", "/pd"]
    assert [(a.channel, a.outcome) for a in tried] == [
        ("slack", "delivered"),
        ("pagerduty", "failed"),
        ("pagerduty", "failed"),
        ("pagerduty", "delivered"),
    ]
    assert {a.alert_id for a in tried} == {an_alert().msg_id}
    assert json.loads(receiver.got[0]["body"])["text"]


def test_the_generic_webhook_also_carries_a_rule_alert(receiver: Receiver) -> None:
    delivered = Webhook(receiver.url(), SECRET).send(an_alert())

    (body,) = receiver.bodies()
    assert delivered == (True, 200, "")
    assert body["type"] == "rate_limit.rejections" and body["action"] == "trigger"
    assert receiver.got[0]["headers"]["webhook-id"] == an_alert().msg_id
