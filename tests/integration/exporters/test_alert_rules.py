"""Alert rules beside budget thresholds, folded in event time: rate-limit rejections in a
window, upstream error rate (trigger and resolve), keys expiring, Admin granted; each
crossing sent once (also when the fold is replayed from the start), cooldowns honoured."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from govledger.exporters.alert_channels import PagerDuty
from govledger.exporters.alert_rules import Rules
from govledger.exporters.alerts import (
    BudgetAlerts,
    GovernanceAlerts,
    Webhook,
    channels_from_env,
    create_tables,
)
from govledger.exporters.consumer import consume
from govledger.ledger import commands
from govledger.ledger import events as ev
from govledger.ledger.access import ALL
from govledger.ledger.config import parse_config
from govledger.ledger.credentials import SecretBox
from govledger.ledger.governance import GovernanceLedger
from govledger.ledger.store import Store
from govledger.projections.database import ViewDatabase, set_position
from tests.integration.exporters.alert_support import Receiver, serving
from tests.integration.exporters.support import CONFIG

SECRET = "whsec_" + "YS1zZWNyZXQtb2YtdGhpcnR5LXR3by1ieXRlcyEhISE="
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
QUIET = Rules(rate_limited=0, error_rate=0, expiry_days=0, admin_grants=False, guardrail_blocks=0)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver that accepts everything."""
    with serving(Receiver()) as target:
        yield target


def governed(url: str, tmp_path: Path, keys: list[dict[str, Any]] | None = None) -> Store:
    """A store with the exporters' config applied (and more keys, if given)."""
    config = json.loads(json.dumps(CONFIG).replace("{MOCK}", "http://127.0.0.1:9"))
    config["virtual_keys"] += keys or []
    store = Store(url)
    box = SecretBox.from_environment_or_file(tmp_path / "secret.key")
    GovernanceLedger(store, box).apply(parse_config(config), "alice", "cli")
    return store


def rejected(store: Store, at: datetime, code: str = "request_limited") -> None:
    """One request of key `exp` refused with `code` at `at`."""
    request_id = uuid.uuid4()
    store.usage.save(
        ev.RequestRejected(
            originator_id=request_id,
            originator_version=1,
            timestamp=at,
            request_id=str(request_id),
            key_id="exp",
            surface="openai",
            model="m1",
            code=code,
            level="virtual_key",
            message="slow down",
            headers={},
        )
    )


def settled(store: Store, at: datetime, status: str) -> None:
    """One request settled with `status` at `at`, charging nothing."""
    request_id = uuid.uuid4()
    store.usage.save(
        ev.RequestSettled(
            originator_id=request_id,
            originator_version=2,
            timestamp=at,
            request_id=str(request_id),
            instance="i",
            incarnation="c",
            status=status,
            reason="",
            provider="mock",
            provider_key_id="k1",
            model="m1",
            tokens={},
            cost=Decimal(0),
            price_source="override",
            charges=[],
            rate=[],
            attempts=[],
            latency_ms=1.0,
        )
    )


def views(url: str) -> ViewDatabase:
    """The view database with the alert tables."""
    db = ViewDatabase(url)
    db.create()
    create_tables(db)
    return db


def forget(db: ViewDatabase, name: str, app: str) -> None:
    """As if the consumer had never run: position 0 and empty tables (the log is kept)."""
    with db.transaction() as cur:
        set_position(cur, name, app, 0)
        for table in ("gl_alert_window", "gl_alert_firing", "gl_alert_fired", "gl_alert_last"):
            cur.execute(f"DELETE FROM {table}")  # noqa: S608


def test_rate_limit_rejections_reaching_the_threshold_in_a_window_alert_once_per_crossing(
    sqlite_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    store = governed(sqlite_url, tmp_path)
    for second in range(5):  # five in 40 s: one crossing at the third
        rejected(store, T0 + timedelta(seconds=10 * second))
    rejected(store, T0 + timedelta(seconds=45), code="budget_exceeded")  # not a rate limit
    for second in range(3):  # the window has moved on: a second crossing
        rejected(store, T0 + timedelta(seconds=600 + second))
    db = views(sqlite_url)
    rules = Rules(rate_limited=3, rate_limited_window_s=60, error_rate=0, expiry_days=0)
    alerts = BudgetAlerts(store, Webhook(receiver.url(), SECRET), rules=rules)

    consume(store, db, alerts)
    forget(db, "alerts", "usage")
    consume(store, db, alerts)  # replayed from the start: nothing sent again
    db.close()
    store.close()

    bodies = receiver.bodies()
    assert [b["type"] for b in bodies] == ["rate_limit.rejections"] * 2
    assert [b["timestamp"] for b in bodies] == [
        (T0 + timedelta(seconds=20)).isoformat(),
        (T0 + timedelta(seconds=602)).isoformat(),
    ]
    assert bodies[0]["data"] == {
        "key_id": "exp",
        "rejections": 3,
        "threshold": 3,
        "window_s": 60,
        "last_code": "request_limited",
    }


def test_the_cooldown_silences_a_second_rate_limit_crossing_of_the_same_key(
    sqlite_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    store = governed(sqlite_url, tmp_path)
    for second in (0, 1, 100, 101):
        rejected(store, T0 + timedelta(seconds=second), code="token_limited")
    db = views(sqlite_url)
    rules = Rules(rate_limited=2, rate_limited_window_s=10, error_rate=0, expiry_days=0)
    consume(
        store,
        db,
        BudgetAlerts(store, Webhook(receiver.url(), SECRET), cooldown_s=3600, rules=rules),
    )
    db.close()
    store.close()

    assert len(receiver.got) == 1


def test_the_upstream_error_rate_triggers_above_its_share_and_resolves_below_on_pagerduty(
    sqlite_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    store = governed(sqlite_url, tmp_path)
    statuses = ["upstream_error"] * 3 + ["ok", "upstream_error"] + ["ok"] * 4
    for n, status in enumerate(statuses):
        settled(store, T0 + timedelta(seconds=n), status)
    db = views(sqlite_url)
    rules = Rules(rate_limited=0, error_rate=0.5, error_min_count=4, expiry_days=0)
    pager = PagerDuty("R0UT1NGK3Y", receiver.url("/v2/enqueue"), backoff_s=0.01)
    alerts = BudgetAlerts(store, pager, rules=rules)

    consume(store, db, alerts)
    forget(db, "alerts", "usage")
    consume(store, db, alerts)
    tried = [e for _, e in store.iterate("governance") if isinstance(e, ev.AlertDeliveryAttempted)]
    db.close()
    store.close()

    trigger, resolve = receiver.bodies()
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == resolve["dedup_key"] == "upstream_error_rate:gateway"
    assert trigger["routing_key"] == resolve["routing_key"] == "R0UT1NGK3Y"
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["source"] == "govledger"
    assert trigger["payload"]["custom_details"]["errors"] == 3
    assert trigger["payload"]["custom_details"]["requests"] == 4
    assert set(resolve) == {"routing_key", "event_action", "dedup_key"}
    assert [(a.rule, a.channel, a.outcome) for a in tried] == [
        ("upstream_error_rate", "pagerduty", "delivered")
    ] * 2


def test_a_key_expiring_within_the_horizon_alerts_once_from_governance_changes(
    sqlite_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    soon = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    later = soon + timedelta(days=60)
    more = [
        {
            **CONFIG["virtual_keys"][0],
            "id": "soon",
            "name": "soon",
            "value": "sk-bf-soon-0123456789",
            "expires_at": soon.isoformat(),
        },
        {
            **CONFIG["virtual_keys"][0],
            "id": "later",
            "name": "later",
            "value": "sk-bf-later-0123456789",
            "expires_at": later.isoformat(),
        },
    ]
    store = governed(sqlite_url, tmp_path, more)
    db = views(sqlite_url)
    rules = Rules(rate_limited=0, error_rate=0, expiry_days=7, admin_grants=False)
    alerts = GovernanceAlerts(store, Webhook(receiver.url(), SECRET), rules)

    consume(store, db, alerts)
    forget(db, "alerts_governance", "governance")
    consume(store, db, GovernanceAlerts(store, Webhook(receiver.url(), SECRET), rules))
    db.close()
    store.close()

    bodies = receiver.bodies()
    assert [(b["type"], b["data"]["key_id"]) for b in bodies] == [("virtual_key.expiring", "soon")]
    assert bodies[0]["data"]["expires_at"] == soon.isoformat()
    assert 2.9 < bodies[0]["data"]["days_left"] <= 3


def test_an_admin_token_and_a_role_granted_everything_alert_but_lesser_grants_do_not(
    sqlite_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    store = governed(sqlite_url, tmp_path)
    ledger = GovernanceLedger(store, SecretBox.from_environment_or_file(tmp_path / "secret.key"))
    bob = commands.Author("bob", "api")
    state, now = ledger.state, datetime.now(UTC)
    role = {"name": "ops", "permissions": ["audit:view"]}
    ledger.commit([commands.event(state, "role", "created", "ops", role, bob, now)])
    everything = {"name": "ops", "permissions": sorted(ALL)}
    ledger.commit([commands.event(state, "role", "updated", "ops", everything, bob, now)])
    ledger.commit([commands.issue_token(state, "root", "Admin", "gl-admin-x" * 4, bob, now)])
    ledger.commit([commands.issue_token(state, "viewer", "Viewer", "gl-admin-y" * 4, bob, now)])
    db = views(sqlite_url)
    rules = Rules(rate_limited=0, error_rate=0, expiry_days=0, admin_grants=True)

    consume(store, db, GovernanceAlerts(store, Webhook(receiver.url(), SECRET), rules))
    db.close()
    store.close()

    bodies = receiver.bodies()
    assert [(b["type"], b["data"]["resource_type"], b["data"]["resource_id"]) for b in bodies] == [
        ("access.admin_granted", "role", "ops"),
        ("access.admin_granted", "admin_token", "root"),
    ]
    assert bodies[1]["data"]["role"] == "Admin" and bodies[1]["data"]["actor"] == "bob"


def test_the_channels_come_from_the_alert_variables() -> None:
    env = {
        "GOVLEDGER_ALERT_WEBHOOK_URL": "http://w",
        "GOVLEDGER_ALERT_SLACK_URL": "http://s",
        "GOVLEDGER_ALERT_TEAMS_URL": "http://t",
        "GOVLEDGER_ALERT_PAGERDUTY_ROUTING_KEY": "rk",
        "GOVLEDGER_ALERT_SMTP_URL": "smtp://127.0.0.1:25",
        "GOVLEDGER_ALERT_SMTP_TO": "a@x.test, b@x.test",
    }

    names = [c.name for c in channels_from_env(env)]
    rules = Rules.from_env(
        {"GOVLEDGER_ALERT_RATE_LIMITED": "5", "GOVLEDGER_ALERT_ADMIN_GRANTS": "0"}
    )

    assert names == ["webhook", "slack", "teams", "pagerduty", "email"]
    assert channels_from_env({}) == []
    assert (rules.rate_limited, rules.admin_grants, rules.expiry_days) == (5, False, 7.0)
    assert QUIET.rate_limited == 0


def guardrail_block(store: Store, at: datetime, action: str = "block") -> None:
    """One guardrail decision of policy `no-cards` at `at`."""
    store.usage.save(
        ev.GuardrailTriggered(
            originator_id=uuid.uuid4(),
            originator_version=1,
            timestamp=at,
            request_id=uuid.uuid4().hex,
            key_id="exp",
            surface="openai_chat",
            model="m1",
            direction="input",
            policy="no-cards",
            check="pii.card",
            category="payment_card",
            action=action,
            start=3,
            end=22,
        )
    )


def test_guardrail_blocks_reaching_the_threshold_alert_once_without_the_matched_text(
    sqlite_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    store = governed(sqlite_url, tmp_path)
    for second in range(4):
        guardrail_block(store, T0 + timedelta(seconds=second))
    guardrail_block(store, T0 + timedelta(seconds=5), action="flag")  # not a block
    db = views(sqlite_url)
    rules = Rules(rate_limited=0, error_rate=0, expiry_days=0, guardrail_blocks=3)
    alerts = BudgetAlerts(store, Webhook(receiver.url(), SECRET), rules=rules)

    consume(store, db, alerts)
    forget(db, "alerts", "usage")
    consume(store, db, alerts)  # replayed: nothing sent again
    db.close()
    store.close()

    [body] = receiver.bodies()
    assert body["type"] == "guardrail.blocks"
    assert body["data"] == {
        "policy": "no-cards",
        "blocks": 3,
        "threshold": 3,
        "window_s": 300.0,
        "last_check": "pii.card",
        "last_category": "payment_card",
        "last_key_id": "exp",
    }
