"""Usage grouped by user on both stores: the request log's `user_id` (added to an old table,
filled by a refold), the spend report by user, the capped by-user counters of /metrics and
the user id in SIEM records."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from govledger.exporters.consumer import consume
from govledger.exporters.metrics_fold import MetricsFold, create_tables
from govledger.exporters.otlp_logs import log_records
from govledger.exporters.siem_formats import cef, ecs, fact, ocsf
from govledger.ledger import events as ev
from govledger.ledger.store import Store
from govledger.projections.database import ViewDatabase, set_position
from govledger.projections.runner import catch_up
from govledger.projections.usage_view import UsageView
from govledger.proxy.management.reports import spend

AT = datetime(2026, 11, 30, 9, tzinfo=UTC)
# (key, user, cost): u1 owns two keys, k3 has no user, u2 and u3 one key each.
REQUESTS = [
    ("k1", "u1", "0.25"),
    ("k2", "u1", "0.5"),
    ("k3", None, "0.125"),
    ("k4", "u2", "1"),
    ("k5", "u3", "2"),
    ("k1", "u1", "0.25"),
]


def admitted(rid: uuid.UUID, key: str, user: str | None) -> ev.RequestAdmitted:
    return ev.RequestAdmitted(
        originator_id=rid,
        originator_version=1,
        timestamp=AT,
        request_id=rid.hex,
        instance="i1",
        incarnation="i1-1",
        key_id=key,
        team_id="t1",
        customer_id=None,
        surface="openai_chat",
        model="m1",
        provider=None,
        reservations=[],
        rate=[],
        estimate={"input": 10, "output": 10, "cost": Decimal(1)},
        headers={},
        user_id=user,
    )


def settled(rid: uuid.UUID, cost: str) -> ev.RequestSettled:
    return ev.RequestSettled(
        originator_id=rid,
        originator_version=2,
        timestamp=AT,
        request_id=rid.hex,
        instance="i1",
        incarnation="i1-1",
        status="ok",
        reason="",
        provider="fake",
        provider_key_id=None,
        model="m1",
        tokens={"input": 3, "output": 4},
        cost=Decimal(cost),
        price_source="override",
        charges=[],
        rate=[],
        attempts=[],
        latency_ms=5.0,
    )


def seeded(url: str) -> tuple[Store, list[ev.LedgerEvent]]:
    """A store whose usage log holds REQUESTS, admitted and settled."""
    store = Store(url)
    events: list[ev.LedgerEvent] = []
    for key, user, cost in REQUESTS:
        rid = uuid.uuid4()
        events += [admitted(rid, key, user), settled(rid, cost)]
    mapper = store.usage.mapper
    store.usage.recorder.insert_events([mapper.to_stored_event(e) for e in events])
    return store, events


def test_spend_by_user_sums_a_users_keys_and_keeps_keyless_under_none(store_url: str) -> None:
    store, events = seeded(store_url)
    db = ViewDatabase(store_url)
    db.create()
    try:
        assert catch_up(store, db, "usage", [UsageView()]) == len(events)
        rows = db.query(
            "SELECT admitted_at, user_id, cost, input_tokens, output_tokens FROM gl_requests "
            "WHERE cost IS NOT NULL AND status <> 'rejected'"
        )
        listed = db.query("SELECT key_id, user_id FROM gl_requests WHERE user_id = ?", ("u1",))
    finally:
        db.close()
        store.close()
    totals = {t["group"]: t for t in spend(rows, "day")}
    assert set(totals) == {"u1", "u2", "u3", None}
    assert totals["u1"]["cost"] == Decimal("1.00") and totals["u1"]["requests"] == 3
    assert totals[None]["cost"] == Decimal("0.125") and totals[None]["requests"] == 1
    assert sorted(k for k, _ in listed) == ["k1", "k1", "k2"]


def test_an_old_request_table_gains_user_id_and_a_refold_fills_it(store_url: str) -> None:
    store, events = seeded(store_url)
    db = ViewDatabase(store_url)
    try:
        with db.transaction() as cur:  # the table as released before users
            cur.execute(
                "CREATE TABLE gl_requests (request_id TEXT PRIMARY KEY, position BIGINT NOT NULL,"
                " admitted_at TEXT NOT NULL, settled_at TEXT, key_id TEXT, team_id TEXT,"
                " customer_id TEXT, surface TEXT, model TEXT, provider TEXT,"
                " provider_key_id TEXT, status TEXT NOT NULL, reason TEXT, input_tokens BIGINT,"
                " output_tokens BIGINT, cached_tokens BIGINT, reasoning_tokens BIGINT,"
                " cost TEXT, price_source TEXT, latency_ms DOUBLE PRECISION, instance TEXT,"
                " incarnation TEXT, reservations TEXT, rate TEXT, attempts TEXT, headers TEXT)"
            )
            cur.execute(
                "INSERT INTO gl_requests (request_id, position, admitted_at, key_id, status) "
                "VALUES ('old', 0, ?, 'k1', 'ok')",
                (AT.isoformat(),),
            )
        db.create()
        db.create()  # a second start (or a second instance) adds nothing twice
        assert db.query("SELECT user_id FROM gl_requests") == [(None,)]
        with db.transaction() as cur:  # what `govledger rebuild` does to a refolded view
            cur.execute("DELETE FROM gl_requests")
            set_position(cur, "usage", "usage", 0)
        assert catch_up(store, db, "usage", [UsageView()]) == len(events)
        users = [r[0] for r in db.query("SELECT user_id FROM gl_requests ORDER BY position")]
    finally:
        db.close()
        store.close()
    assert users == [user for _, user, _ in REQUESTS]


def by_user(db: ViewDatabase) -> dict[tuple[str, str], float]:
    rows = db.query(
        "SELECT name, labels, value FROM gl_metrics WHERE name IN (?, ?)",
        ("govledger_user_requests_total", "govledger_user_cost_usd_total"),
    )
    return {(str(n), json.loads(labels)["user"]): float(v) for n, labels, v in rows}


def test_metrics_by_user_are_capped_and_stable_across_batches(store_url: str) -> None:
    store, _ = seeded(store_url)
    db = ViewDatabase(store_url)
    db.create()
    create_tables(db)
    try:
        consume(store, db, MetricsFold(user_cap=2), batch_size=3)
        found = by_user(db)
        with db.transaction() as cur:  # a refold in one batch gives the same series
            cur.execute("DELETE FROM gl_metrics")
            cur.execute("DELETE FROM gl_metric_open")
            set_position(cur, "metrics", "usage", 0)
        consume(store, db, MetricsFold(user_cap=2), batch_size=100)
        again = by_user(db)
    finally:
        db.close()
        store.close()
    requests = {u: v for (n, u), v in found.items() if n == "govledger_user_requests_total"}
    cost = {u: v for (n, u), v in found.items() if n == "govledger_user_cost_usd_total"}
    assert requests == {"u1": 3, "u2": 1, "none": 1, "_other": 1}  # u3 is past the cap
    assert cost == {"u1": 1.0, "u2": 1.0, "none": 0.125, "_other": 2.0}
    assert again == found


def test_siem_records_carry_the_user_beside_the_key() -> None:
    rid = uuid.uuid4()
    owned = fact("usage", 1, admitted(rid, "k1", "u1"))
    keyless = fact("usage", 2, admitted(rid, "k3", None))
    assert json.loads(ecs(owned))["user"] == {"name": "virtual_key:k1", "id": "u1"}
    assert json.loads(ocsf(owned))["actor"]["user"]["uid"] == "u1"
    assert "suid=u1" in cef(owned)
    assert "id" not in json.loads(ecs(keyless))["user"] and "suid=" not in cef(keyless)


def test_otlp_log_records_carry_the_user_beside_the_key(sqlite_url: str) -> None:
    store, _ = seeded(sqlite_url)
    try:
        notes = store.read("usage", 0, 100)
        records = log_records("usage", notes, lambda n: store.decode("usage", n))
    finally:
        store.close()
    users = [
        (r.log_record.attributes or {}).get("govledger.user_id")
        for r in records
        if r.log_record.event_name == "govledger.request.admitted"
    ]
    assert users == [user for _, user, _ in REQUESTS]
