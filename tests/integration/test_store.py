"""The governance ledger on a real store (SQLite and PostgreSQL): apply appends the difference."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from govledger.ledger import events as ev
from govledger.ledger.config import parse_config
from govledger.ledger.credentials import SecretBox
from govledger.ledger.governance import ConcurrentChangeError, GovernanceLedger
from govledger.ledger.store import Store, StoreURL
from tests.integration.workload import CONFIG, config_with

BOX = SecretBox(bytes(range(32)))


def ledger_on(store: Store) -> GovernanceLedger:
    """A governance ledger over the store, loaded."""
    ledger = GovernanceLedger(store, BOX)
    ledger.load()
    return ledger


def test_apply_appends_every_change_at_once(store: Store) -> None:
    plan, appended = ledger_on(store).apply(parse_config(CONFIG), "alice", "cli")

    assert appended == len(plan.changes) == 6
    events = list(store.iterate("governance"))
    assert [position for position, _ in events] == list(range(1, 7))
    assert [type(e).__name__ for _, e in events] == [
        "ProviderCreated",
        "CustomerCreated",
        "TeamCreated",
        "VirtualKeyCreated",
        "VirtualKeyCreated",
        "GatewaySettingsChanged",
    ]
    assert {(e.actor, e.source) for _, e in events if isinstance(e, ev.GovernanceEvent)} == {
        ("alice", "cli")
    }


def test_a_second_apply_of_the_same_file_appends_nothing(store: Store) -> None:
    ledger = ledger_on(store)
    ledger.apply(parse_config(CONFIG), "alice", "cli")

    plan, appended = ledger.apply(parse_config(CONFIG), "alice", "cli")

    assert (plan.is_empty, appended) == (True, 0)
    assert store.max_position("governance") == 6


def test_a_ledger_reloaded_from_the_store_plans_nothing_for_the_same_file(
    store: Store, store_url: str
) -> None:
    ledger_on(store).apply(parse_config(CONFIG), "alice", "cli")
    reopened = Store(store_url)
    try:
        again = ledger_on(reopened)
        plan, appended = again.apply(parse_config(CONFIG), "bob", "cli")
        assert (plan.changes, appended) == ([], 0)
        assert again.state.live("virtual_key").keys() == {"ci", "old"}
    finally:
        reopened.close()


def test_an_update_appends_only_the_changed_entity(store: Store) -> None:
    ledger = ledger_on(store)
    ledger.apply(parse_config(CONFIG), "alice", "cli")

    raw = config_with(lambda c: c["teams"][0]["budgets"][0].update(max_limit="30"))
    plan, appended = ledger.apply(parse_config(raw), "bob", "api")

    assert appended == 1
    [(position, event)] = list(store.iterate("governance", after=6))
    assert (position, type(event), event.originator_version) == (7, ev.TeamUpdated, 2)


def test_a_dry_run_appends_nothing(store: Store) -> None:
    plan, appended = ledger_on(store).apply(parse_config(CONFIG), "alice", "cli", dry_run=True)

    assert (len(plan.changes), appended) == (6, 0)
    assert store.max_position("governance") == 0


def test_a_concurrent_conflicting_commit_raises_and_appends_nothing(
    store: Store, store_url: str
) -> None:
    ledger_on(store).apply(parse_config(CONFIG), "alice", "cli")
    other_store = Store(store_url)
    try:
        first, second = ledger_on(store), ledger_on(other_store)
        # The second planned a change to the team and the customer before the first committed.
        raw = config_with(lambda c: c["teams"][0].update(name="Platform team"))
        raw["customers"][0]["name"] = "Acme Corp"
        stale = second.plan(parse_config(raw))
        events = stale.events(second.state, "bob", "api", datetime.now(UTC))
        first.apply(
            parse_config(config_with(lambda c: c["teams"][0].update(name="Builders"))),
            "alice",
            "cli",
        )
        head = store.max_position("governance")

        with pytest.raises(ConcurrentChangeError):
            second.commit(events)

        assert store.max_position("governance") == head
        assert second.state.get("customer", "acme") == first.state.get("customer", "acme")
        assert (second.state.get("team", "platform") or {})["name"] == "Platform"
        plan, appended = second.apply(parse_config(raw), "bob", "api")
        assert appended == 2
        assert (second.state.get("team", "platform") or {})["name"] == "Platform team"
    finally:
        other_store.close()


def test_a_ledger_that_commits_after_another_still_loads_the_others_change(
    store: Store, store_url: str
) -> None:
    ledger_on(store).apply(parse_config(CONFIG), "alice", "cli")
    other_store = Store(store_url)
    try:
        mine, theirs = ledger_on(store), ledger_on(other_store)
        raw = config_with(lambda c: c["customers"][0].update(name="Acme Corp"))
        planned = mine.plan(parse_config(raw))
        events = planned.events(mine.state, "alice", "cli", datetime.now(UTC))
        # Another process changes the team between this ledger's plan and its commit.
        renamed = config_with(lambda c: c["teams"][0].update(name="Builders"))
        theirs.apply(parse_config(renamed), "bob", "api")
        mine.commit(events)

        mine.load()

        assert (mine.state.get("team", "platform") or {})["name"] == "Builders"
        both = config_with(lambda c: c["teams"][0].update(name="Builders"))
        both["customers"][0]["name"] = "Acme Corp"
        assert mine.plan(parse_config(both)).is_empty
    finally:
        other_store.close()


def test_the_store_url_masks_its_password_and_names_its_sqlite_files(tmp_path: Path) -> None:
    url = StoreURL("postgresql://gov:s3cr%40t@db.example:6543/ledger")
    assert url.masked() == "postgresql://gov:***@db.example:6543/ledger"
    assert url.environment("usage")["POSTGRES_PASSWORD"] == "s3cr@t"
    sqlite = StoreURL(f"sqlite:///{tmp_path}/x.sqlite")
    assert sqlite.sqlite_file("usage") == tmp_path / "x.usage.sqlite"


def test_entity_events_stored_before_managed_by_existed_still_load(store: Store) -> None:
    # An event as an older version stored it: the same payload without `managed_by`.
    mapper = store.governance.mapper
    for entity_id, source in (("applied", "cli"), ("made-by-rest", "api")):
        event = ev.CustomerCreated(
            originator_id=uuid.uuid4(),
            originator_version=1,
            timestamp=datetime(2025, 1, 1, tzinfo=UTC),
            actor="alice",
            source=source,
            entity_id=entity_id,
            data={"name": entity_id, "budgets": []},
        )
        stored = mapper.to_stored_event(event)
        state = mapper.transcoder.decode(stored.state)
        del state["managed_by"]
        old = dataclasses.replace(stored, state=mapper.transcoder.encode(state))
        store.governance.recorder.insert_events([old])

    ledger = ledger_on(store)

    [(_, loaded), _] = list(store.iterate("governance"))
    assert loaded.managed_by == ""  # type: ignore[attr-defined]
    assert ledger.state.manager("customer", "applied") == "config"
    assert ledger.state.manager("customer", "made-by-rest") == "api"
    plan = ledger.plan(parse_config({}))
    assert [(u.kind, u.entity_id, u.managed_by) for u in plan.unmanaged] == [
        ("customer", "made-by-rest", "api")
    ]
