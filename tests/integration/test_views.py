"""Materialized views on a real store: audit, requests and usage; rebuild; replay."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import orjson
import pytest

from govledger.ledger.config import parse_config
from govledger.ledger.credentials import SecretBox
from govledger.ledger.governance import GovernanceLedger
from govledger.ledger.heap import BULK_THRESHOLDS
from govledger.ledger.store import Store
from govledger.projections.audit_view import AuditView
from govledger.projections.database import ViewDatabase
from govledger.projections.rebuild import Refold, clear, rebuild, rebuild_views, view_refolds
from govledger.projections.runner import catch_up
from govledger.projections.usage_state import BudgetUsage, UsageState
from govledger.projections.usage_view import UsageView, load_usage_state
from tests.integration.workload import BUDGETS, CONFIG, Requests, config_with, period_of, snapshot

BOX = SecretBox(bytes(range(32)))


@pytest.fixture
def views(store_url: str) -> Iterator[ViewDatabase]:
    """The views' database of the store, with its tables."""
    db = ViewDatabase(store_url)
    db.create()
    yield db
    db.close()


def follow(store: Store, views: ViewDatabase, batch_size: int = 2000) -> int:
    """Bring both applications' views up to date, as the tails do."""
    return catch_up(store, views, "governance", [AuditView()], batch_size=batch_size) + catch_up(
        store, views, "usage", [UsageView()], batch_size=batch_size
    )


def audit_rows(views: ViewDatabase) -> list[dict[str, Any]]:
    """The audit trail, oldest first, with before and after decoded."""
    rows = views.query(
        "SELECT position, actor, source, action, resource_type, resource_id, version, "
        "before, after FROM gl_audit ORDER BY position"
    )
    names = ("position", "actor", "source", "action", "type", "id", "version", "before", "after")
    return [
        {
            **dict(zip(names, row, strict=True)),
            "before": row[7] and orjson.loads(row[7]),
            "after": row[8] and orjson.loads(row[8]),
        }
        for row in rows
    ]


def test_catch_up_builds_the_audit_trail_with_before_after_actor_and_source(
    store: Store, views: ViewDatabase
) -> None:
    ledger = GovernanceLedger(store, BOX)
    ledger.apply(parse_config(CONFIG), "alice", "cli")
    raw = config_with(lambda c: c["teams"][0]["budgets"][0].update(max_limit="30"))
    raw["virtual_keys"].pop()  # the key "old" is disabled
    ledger.apply(parse_config(raw), "bob", "api")

    follow(store, views)

    rows = audit_rows(views)
    assert [(r["action"], r["id"], r["actor"], r["source"], r["version"]) for r in rows] == [
        ("provider.created", "openai", "alice", "cli", 1),
        ("customer.created", "acme", "alice", "cli", 1),
        ("team.created", "platform", "alice", "cli", 1),
        ("virtual_key.created", "ci", "alice", "cli", 1),
        ("virtual_key.created", "old", "alice", "cli", 1),
        ("settings.updated", "gateway", "alice", "cli", 1),
        ("team.updated", "platform", "bob", "api", 2),
        ("virtual_key.updated", "old", "bob", "api", 2),
    ]
    team_update = rows[6]
    assert team_update["before"] == rows[2]["after"]
    assert team_update["before"]["budgets"][0]["max_limit"] == "25"
    assert team_update["after"]["budgets"][0]["max_limit"] == "30"
    assert rows[2]["before"] is None
    assert (rows[7]["before"]["is_active"], rows[7]["after"]["is_active"]) == (True, False)
    text = str(rows)
    assert "sk-proj-literal-0123456789" not in text
    assert "sk-bf-ci-0123456789abcdef" not in text


def test_catch_up_builds_the_request_log_and_budget_usage(
    store: Store, views: ViewDatabase
) -> None:
    requests = Requests(seed=1)
    kept, closed, lost = (requests.admitted(Decimal("0.5")) for _ in range(3))
    settled = requests.settled(closed.request_id)
    abandoned = requests.abandoned(lost.request_id)
    rejected = requests.rejected()
    store.usage.save(kept, closed, lost)
    follow(store, views)
    store.usage.save(settled, abandoned, rejected)  # closed in a later batch than admitted

    follow(store, views)

    status = dict(views.query("SELECT request_id, status FROM gl_requests"))
    assert status == {
        kept.request_id: "admitted",
        closed.request_id: "ok",
        lost.request_id: "abandoned",
        rejected.request_id: "rejected",
    }
    [row] = views.query(
        "SELECT input_tokens, output_tokens, cached_tokens, cost, provider_key_id, model "
        "FROM gl_requests WHERE request_id = ?",
        (closed.request_id,),
    )
    assert tuple(row) == (12, 34, 5, str(settled.cost), "main", "gpt-4o-2024-08-06")
    usage = {
        (b, p): (Decimal(s), Decimal(r), n)
        for b, p, s, r, n in views.query(
            "SELECT budget, period, settled, reserved, requests FROM gl_budget_usage"
        )
    }
    for budget in BUDGETS:
        period = period_of(budget, kept.timestamp)
        assert all(r["period"] == period for r in kept.reservations if r["budget"] == budget)
    day = {b: (s, r, n) for (b, p), (s, r, n) in usage.items() if p == period_of(b, kept.timestamp)}
    assert day["virtual_key:ci#1d"] == (settled.cost + Decimal("0.5"), Decimal("0.5"), 2)


def test_catch_up_applies_each_event_exactly_once(store: Store, views: ViewDatabase) -> None:
    requests = Requests(seed=2)
    store.usage.save(*requests.mixed(30))
    GovernanceLedger(store, BOX).apply(parse_config(CONFIG), "alice", "cli")

    assert follow(store, views, batch_size=7) == 36
    first = snapshot(views)

    assert follow(store, views) == 0
    assert snapshot(views) == first
    assert views.position("usage", "usage") == store.max_position("usage")
    assert views.position("audit", "governance") == store.max_position("governance")


def test_rebuilt_views_equal_the_live_ones_row_for_row(
    store: Store, views: ViewDatabase, store_url: str
) -> None:
    requests = Requests(seed=3)
    ledger = GovernanceLedger(store, BOX)
    ledger.apply(parse_config(CONFIG), "alice", "cli")
    for round_ in range(6):
        store.usage.save(*requests.mixed(25))
        if round_ == 2:
            raw = config_with(lambda c: c["customers"][0].update(name="Acme Corp"))
            ledger.apply(parse_config(raw), "bob", "api")
        follow(store, views, batch_size=3 + round_)
    live = snapshot(views)
    assert len(live["gl_requests"]) > 50 and live["gl_rate_state"] and live["gl_audit"]

    counts = rebuild_views(store, store_url)

    assert counts == {"audit": 7, "usage": 150}
    assert snapshot(views) == live


def test_reading_the_next_page_ahead_folds_the_rows_of_reading_in_turn(
    store: Store, views: ViewDatabase
) -> None:
    requests = Requests(seed=5)
    for _ in range(4):
        store.usage.save(*requests.mixed(20))
    follow(store, views, batch_size=7)
    live = snapshot(views)
    clear(views, [r for r in view_refolds() if r.name == "usage"])

    folded = catch_up(store, views, "usage", [UsageView()], batch_size=7, read_ahead=True)

    assert folded == store.max_position("usage") > 7 * 3  # many full pages, each read ahead
    assert snapshot(views) == live


def test_a_rebuild_folds_with_rarer_collector_passes_and_restores_them(
    store: Store, views: ViewDatabase, store_url: str
) -> None:
    seen: list[tuple[int, int, int]] = []

    def probe(_store: Store, _db: ViewDatabase, _progress: object) -> int:
        seen.append(gc.get_threshold())
        return 0

    before = gc.get_threshold()
    rebuild(store, store_url, [Refold("probe", "usage", (), probe)])

    assert seen == [BULK_THRESHOLDS]
    assert gc.get_threshold() == before


def test_the_usage_state_loaded_from_views_equals_the_fold_of_the_whole_log(
    store: Store, views: ViewDatabase
) -> None:
    requests = Requests(seed=4)
    for size in (40, 1, 17, 60):
        store.usage.save(*requests.mixed(size))
        follow(store, views, batch_size=size // 3 + 1)
    assert requests.open, "some requests should still be in flight"

    with views.transaction() as cur:
        loaded = load_usage_state(cur)
    folded = UsageState()
    for _, event in store.iterate("usage"):
        folded.apply(event)

    assert loaded == folded
    assert set(loaded.inflight) == set(requests.open)
    assert any(u != BudgetUsage(u.period) for u in loaded.budgets.values())
