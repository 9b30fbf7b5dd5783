"""Retention of exporter delivery records: the fired-alert rows (gl_alert_fired) of alerts
before the `deliveries` cutoff go in the same run and event as the request log; an alert
is still never sent twice after its row went (its delivered attempts are events, kept);
a table created before `fired_at` existed gets the column; both stores."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from govledger.compliance.pruning import prune
from govledger.compliance.retention import RetentionPolicy
from govledger.exporters import alerts
from govledger.exporters.alert_channels import Alert, Attempt
from govledger.exporters.alert_rules import make_alert
from govledger.ledger import events as ev
from govledger.ledger.store import Store
from govledger.projections.database import ViewDatabase

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
AGES = {
    "old": timedelta(days=90, microseconds=1),
    "at-cutoff": timedelta(days=90),
    "fresh": timedelta(days=1),
}


@dataclass
class Receiver:
    """A channel that accepts every alert and counts what it was sent (in process)."""

    name: str = "receiver"
    attempts: int = 1
    backoff_s: float = 0.0
    sent: list[str] = field(default_factory=list)

    def send(self, alert: Alert) -> Attempt:
        """Accept the alert."""
        self.sent.append(alert.id)
        return True, 200, ""


def alert(name: str, age: timedelta) -> Alert:
    """A rule's alert raised at NOW - age."""
    return make_alert(f"test:{name}", "test", name, "test", NOW - age, {"n": 1})


def fired(db: ViewDatabase) -> set[str]:
    """The alert ids still recorded as fired."""
    return {str(a) for (a,) in db.query("SELECT alert_id FROM gl_alert_fired")}


def test_delivery_records_past_their_period_go_in_the_same_run(store_url: str) -> None:
    store = Store(store_url)
    db = ViewDatabase(store_url)
    channel = Receiver()
    try:
        db.create()
        alerts.create_tables(db)
        with db.transaction() as cur:
            for name, age in AGES.items():
                assert alerts.fire(store, [channel], cur, alert(name, age), cooldown_s=0)
            cur.execute("INSERT INTO gl_alert_fired (alert_id) VALUES ('before-fired-at')")
        policy = RetentionPolicy.parse("30d", None, "90d")
        event = prune(store, db, policy, "ops", "cli", clock=lambda: NOW)
        left = fired(db)
        with db.transaction() as cur:  # the pruned alert raised again: not sent again
            again = alerts.fire(store, [channel], cur, alert("old", AGES["old"]), cooldown_s=0)
        runs = [e for _, e in store.iterate("governance") if isinstance(e, ev.RetentionPruned)]
        attempts = [
            e for _, e in store.iterate("governance") if isinstance(e, ev.AlertDeliveryAttempted)
        ]
    finally:
        db.close()
        store.close()

    assert left == {"test:at-cutoff", "test:fresh", "before-fired-at"}
    assert event.pruned == {"requests": 0, "deliveries": 1}
    assert event.cutoffs["deliveries"] == (NOW - timedelta(days=90)).isoformat()
    assert [r.periods for r in runs] == [{"requests": "30d", "deliveries": "90d"}]
    assert again is True  # it went through fire, and deliver skipped the delivered channel
    assert channel.sent == ["test:old", "test:at-cutoff", "test:fresh"]
    assert len(attempts) == 3  # the events are kept: three attempts, all delivered


def test_a_fired_table_from_before_gets_its_column(store_url: str) -> None:
    store = Store(store_url)
    db = ViewDatabase(store_url)
    try:
        db.create()
        with db.transaction() as cur:
            cur.execute("CREATE TABLE gl_alert_fired (alert_id TEXT PRIMARY KEY)")
            cur.execute("INSERT INTO gl_alert_fired (alert_id) VALUES ('kept')")
        alerts.create_tables(db)
        alerts.create_tables(db)  # twice: no error
        prune(store, db, RetentionPolicy.parse(None, None, "1d"), "ops", "cli", lambda: NOW)
        rows = db.query("SELECT alert_id, fired_at FROM gl_alert_fired")
    finally:
        db.close()
        store.close()

    assert [tuple(r) for r in rows] == [("kept", None)]  # its age unknown: kept
