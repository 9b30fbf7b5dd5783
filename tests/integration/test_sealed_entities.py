"""An entity's personal fields are sealed on the way to the store under its own subject
(its id) and opened on the way into the state; after an erasure they open as `erased`, and
events without personal fields pass untouched."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from govledger.compliance.erasure import forget
from govledger.ledger import events as ev
from govledger.ledger.credentials import SecretBox
from govledger.ledger.entities import stream_id
from govledger.ledger.governance import GovernanceLedger
from govledger.ledger.personal import ERASED, is_sealed
from govledger.ledger.sealed_entities import erased, opened, seal_events
from govledger.ledger.store import Store
from govledger.ledger.subject_keys import KeyRing, SubjectKeys

NOW = datetime(2026, 7, 1, tzinfo=UTC)
NAMES = ("user_name", "email")
PERSON = {"user_name": "jo", "email": "jo@example.com"}


def created(entity_id: str, data: dict[str, object]) -> ev.CustomerCreated:
    """An entity event (a customer stands in for any kind with personal fields)."""
    return ev.CustomerCreated(
        originator_id=stream_id("customer", entity_id),
        originator_version=1,
        timestamp=NOW,
        actor="ops",
        source="api",
        entity_id=entity_id,
        data=data,
    )


def test_personal_fields_are_sealed_opened_and_erased(tmp_path: Path) -> None:
    keys = SubjectKeys(f"sqlite:///{tmp_path}/ledger.sqlite", SecretBox(b"k" * 32))
    ring = KeyRing(keys)
    plain = created("c-plain", {"name": "Acme"})
    person = created("u-1", {"name": "u-1", "personal": PERSON})
    try:
        stored = seal_events([plain, person], ring)
        sealed = stored[1]
        assert isinstance(sealed, ev.EntityEvent)
        shown = opened(sealed.data, KeyRing(keys), NAMES)
        forget(ring, lambda _: None, "u-1", "ops", "api", NOW)
        after = opened(sealed.data, KeyRing(keys), NAMES)
    finally:
        keys.close()

    assert stored[0] is plain
    assert is_sealed(sealed.data["personal"]) and "jo" not in str(sealed.data["personal"])
    assert sealed.data["name"] == "u-1" and seal_events([sealed], ring)[0] is sealed
    assert shown == person.data
    assert after == {"name": "u-1", "personal": dict.fromkeys(NAMES, ERASED)}
    assert erased(person.data, NAMES) == after
    assert opened({"name": "x"}, ring, NAMES) == {"name": "x"}


def test_the_governance_ledger_seals_at_rest_and_folds_opened_then_erased(
    store_url: str,
) -> None:
    store = Store(store_url)
    box = SecretBox(b"k" * 32)
    tables = [SubjectKeys(store_url, box) for _ in range(3)]
    writer, reader = (
        GovernanceLedger(store, box, ring=KeyRing(t), personal_fields=NAMES) for t in tables[:2]
    )
    person = created("u-2", {"name": "u-2", "personal": PERSON})
    try:
        writer.commit([person])
        [(_, stored)] = list(store.iterate("governance"))
        assert isinstance(stored, ev.EntityEvent)
        loaded = reader.load().get("customer", "u-2")
        forget(KeyRing(tables[2]), writer.append, "u-2", "ops", "api", NOW)
        reader.load()
        later = GovernanceLedger(store, box, ring=KeyRing(tables[2]), personal_fields=NAMES)
        folded_later = later.load().get("customer", "u-2")
        folded_after = reader.state.get("customer", "u-2")
    finally:
        for table in tables:
            table.close()
        store.close()

    assert is_sealed(stored.data["personal"]) and writer.state.get("customer", "u-2") == person.data
    assert loaded == person.data
    erased_data = {"name": "u-2", "personal": dict.fromkeys(NAMES, ERASED)}
    assert folded_after == erased_data and folded_later == erased_data
