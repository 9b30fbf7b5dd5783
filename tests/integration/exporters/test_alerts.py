"""Budget threshold alerts: signed per Standard Webhooks, each attempt an event, nothing
sent twice for one crossing (even after a crash before the position commits), cooldown."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from govledger.exporters.alerts import BudgetAlerts, DeliveryError, Webhook, create_tables
from govledger.exporters.consumer import consume
from govledger.ledger import events as ev
from govledger.ledger.config import parse_config
from govledger.ledger.credentials import SecretBox
from govledger.ledger.governance import GovernanceLedger
from govledger.ledger.store import Store
from govledger.projections.database import ViewDatabase, set_position
from tests.conftest import RunningGateway, free_port
from tests.integration.exporters.support import CONFIG, chat
from tests.loops import close_loop

SECRET = "whsec_" + base64.b64encode(b"a-secret-of-thirty-two-bytes!!!!").decode()
BUDGET = "virtual_key:exp#1d"


class Receiver:
    """A local webhook receiver; answers each request with the next status of `statuses`."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.got: list[dict[str, Any]] = []
        self.port = free_port()

    async def take(self, request: web.Request) -> web.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}  # names are case-blind
        self.got.append({"headers": headers, "body": await request.read()})
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver answering 503 once, then 200."""
    target = Receiver([503])
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        application = web.Application()
        application.router.add_post("/hook", target.take)
        runner = web.AppRunner(application, access_log=None)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", target.port).start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        close_loop(loop)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    yield target
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)


def ledger_with_spend(url: str, tmp_path: Path, amounts: list[tuple[str, str]]) -> Store:
    """The config applied, then one settled request per (period, amount) charged to BUDGET."""
    config = json.loads(json.dumps(CONFIG).replace("{MOCK}", "http://127.0.0.1:9"))
    store = Store(url)
    box = SecretBox.from_environment_or_file(tmp_path / "secret.key")
    GovernanceLedger(store, box).apply(parse_config(config), "alice", "cli")
    for period, amount in amounts:
        request_id = str(uuid.uuid4())
        store.usage.save(
            ev.RequestSettled(
                originator_id=uuid.UUID(request_id),
                originator_version=2,
                timestamp=datetime.fromisoformat(period) if "T" in period else datetime.now(UTC),
                request_id=request_id,
                instance="i",
                incarnation="c",
                status="ok",
                reason="",
                provider="mock",
                provider_key_id="k1",
                model="m1",
                tokens={},
                cost=Decimal(amount),
                price_source="override",
                charges=[{"budget": BUDGET, "period": period, "amount": Decimal(amount)}],
                rate=[],
                attempts=[],
                latency_ms=1.0,
            )
        )
    return store


def valid_signature(headers: dict[str, str], body: bytes) -> bool:
    """Check a request the way a Standard Webhooks receiver does."""
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(part.removeprefix("v1,"), expected)
        for part in headers["webhook-signature"].split()
    )


def attempts(store: Store) -> list[ev.AlertDeliveryAttempted]:
    """Every delivery attempt in the governance log."""
    return [e for _, e in store.iterate("governance") if isinstance(e, ev.AlertDeliveryAttempted)]


PERIOD = "2026-03-01T00:00:00+00:00"


def test_each_crossing_is_sent_once_signed_and_every_attempt_is_an_event(
    store_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    store = ledger_with_spend(
        store_url, tmp_path, [(PERIOD, "0.6"), (PERIOD, "0.25"), (PERIOD, "0.2")]
    )
    db = ViewDatabase(store_url)
    db.create()
    create_tables(db)
    alerts = BudgetAlerts(store, Webhook(receiver.url, SECRET, backoff_s=0.01))

    consume(store, db, alerts)
    sent = len(receiver.got)
    with db.transaction() as cur:  # as if the process died before its position committed
        set_position(cur, "alerts", "usage", 0)
        cur.execute("DELETE FROM gl_alert_budget")
        cur.execute("DELETE FROM gl_alert_last")
    consume(store, db, alerts)
    tried = attempts(store)
    db.close()
    store.close()

    bodies = [json.loads(r["body"]) for r in receiver.got]
    assert sent == 4 and len(receiver.got) == 4  # a 503 and its retry, then two; none again
    assert [b["data"]["threshold_percent"] for b in bodies] == [50, 50, 80, 100]
    assert all(valid_signature(r["headers"], r["body"]) for r in receiver.got)
    assert receiver.got[0]["headers"]["webhook-id"] == receiver.got[1]["headers"]["webhook-id"]
    assert len({r["headers"]["webhook-id"] for r in receiver.got}) == 3
    assert [(a.outcome, a.status) for a in tried] == [
        ("failed", 503),
        ("delivered", 200),
        ("delivered", 200),
        ("delivered", 200),
    ]
    assert bodies[-1]["data"] == {
        "budget": BUDGET,
        "period": PERIOD,
        "threshold_percent": 100,
        "limit_usd": "1",
        "settled_usd": "1.05",
    }


def test_an_undelivered_alert_keeps_the_position_and_is_sent_on_the_next_run(
    sqlite_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    receiver.statuses = [500, 500]
    store = ledger_with_spend(sqlite_url, tmp_path, [(PERIOD, "0.5")])
    db = ViewDatabase(sqlite_url)
    db.create()
    create_tables(db)
    alerts = BudgetAlerts(store, Webhook(receiver.url, SECRET, attempts=2, backoff_s=0.01))

    with pytest.raises(DeliveryError):
        consume(store, db, alerts)
    stuck = db.position("alerts", "usage")
    consume(store, db, alerts)
    done = db.position("alerts", "usage")
    head = store.max_position("usage")
    tried = attempts(store)
    db.close()
    store.close()

    assert (stuck, done) == (0, head)
    assert [a.outcome for a in tried] == ["failed", "failed", "delivered"]
    assert [a.originator_version for a in tried] == [1, 2, 3]


def test_the_cooldown_keeps_a_level_of_a_budget_quiet_across_periods(
    sqlite_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    receiver.statuses = []
    day1, day2 = "2026-03-01T00:00:00+00:00", "2026-03-02T00:00:00+00:00"
    store = ledger_with_spend(sqlite_url, tmp_path, [(day1, "0.6"), (day2, "0.6")])
    db = ViewDatabase(sqlite_url)
    db.create()
    create_tables(db)

    consume(store, db, BudgetAlerts(store, Webhook(receiver.url, SECRET), cooldown_s=2 * 86400))
    db.close()
    store.close()

    assert [json.loads(r["body"])["data"]["period"] for r in receiver.got] == [day1]


def test_a_gateway_configured_with_a_webhook_alerts_as_its_budget_fills_and_on_its_admin_token(
    gateway_factory: Callable[..., RunningGateway],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver.statuses = []
    monkeypatch.setenv("GOVLEDGER_ALERT_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("GOVLEDGER_ALERT_WEBHOOK_SECRET", SECRET)
    key = {
        **CONFIG["virtual_keys"][0],
        "budgets": [{"max_limit": "0.00002", "reset_duration": "1d", "mode": "optimistic"}],
    }
    gateway = gateway_factory({**CONFIG, "virtual_keys": [key]})
    chat(gateway, 2)

    deadline = time.monotonic() + 20
    while len(receiver.got) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)

    bodies = [json.loads(r["body"]) for r in receiver.got]
    budget = [b for b in bodies if b["type"] == "budget.threshold_crossed"]
    granted = [b["data"] for b in bodies if b["type"] == "access.admin_granted"]
    assert sorted(b["data"]["threshold_percent"] for b in budget) == [50, 80, 100]
    assert [(g["resource_type"], g["role"]) for g in granted] == [("admin_token", "Admin")]
    assert all(valid_signature(r["headers"], r["body"]) for r in receiver.got)
