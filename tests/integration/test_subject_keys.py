"""Subjects' keys on both stores: created once when instances race, encrypted under the
master key at rest, gone after `destroy`; a ring seals from its cache only, and a request
whose subject's key cannot be had (store down) records `withheld` within a bound, never the
value; `govledger users forget` runs on the store."""

from __future__ import annotations

import asyncio
import base64
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from govledger.compliance.erasure import ErasureNotRecordedError, forget
from govledger.ledger import events as ev
from govledger.ledger.credentials import SecretBox
from govledger.ledger.personal import ERASED, WITHHELD, open_value, recorded_value
from govledger.ledger.store import Store
from govledger.ledger.subject_keys import KeyRing, SubjectKeys
from govledger.proxy.cli.main import app
from govledger.proxy.enforcement.settlement import Origin
from govledger.proxy.flow.gateway import SUBJECT_KEY_WAIT_S, Gateway, Limits
from tests.clocks import PinnedClock
from tests.unit.proxy.test_gateway import NOW, Governance, Usage, key

BOX = SecretBox(b"m" * 32)
PERSONAL = {"record_headers": ["x-user-id", "x-tenant"], "personal_headers": ["x-user-id"]}


def test_racing_instances_get_one_key_stored_encrypted_and_destroy_erases(
    store_url: str, tmp_path: Path
) -> None:
    Store(store_url).close()
    tables = [SubjectKeys(store_url, BOX) for _ in range(4)]
    rings = [KeyRing(t) for t in tables]
    ref = rings[0].ref("carol@example.com")
    try:
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(lambda t: t.key_for(ref), tables * 5))
        stored = tables[0]._run("SELECT key FROM gl_subject_keys").fetchall()
        rings[1].prepare(["carol@example.com"])
        sealed = rings[1].seal("carol@example.com")
        assert sealed is not None
        shown_before = rings[2].shown([sealed, "plain", None])
        destroyed = tables[3].destroy(ref)
        rings[1].evict(ref)
        shown_after = rings[1].shown([sealed])
        cold = KeyRing(SubjectKeys(store_url, BOX)).shown([sealed])
        count = tables[0].count()
    finally:
        for table in tables:
            table.close()

    assert len(set(got)) == 1 and len(stored) == 1  # the first insert won everywhere
    raw = base64.urlsafe_b64encode(got[0]).decode()
    assert stored[0][0].startswith("aesgcm:") and raw not in stored[0][0]
    assert shown_before == ["carol@example.com", "plain", None]
    assert destroyed == 1 and count == 0
    assert shown_after == [ERASED] and cold == [ERASED]
    assert open_value(sealed, got[0]) == "carol@example.com"  # only the key was ever needed
    if store_url.startswith("sqlite"):  # the deleted row is overwritten (secure_delete)
        path = Path(store_url[len("sqlite:///") :])
        data = b"".join(p.read_bytes() for p in path.parent.glob("*subjects*"))
        assert stored[0][0].encode() not in data


def test_a_ring_seals_only_from_its_cache(sqlite_url: str) -> None:
    keys = SubjectKeys(sqlite_url, BOX)
    ring = KeyRing(keys, size=2)
    try:
        assert ring.seal("dan") is None and not ring.has("dan")
        ring.prepare(["dan", "eve", "fay"])
        assert not ring.has("dan") and ring.has("eve") and ring.has("fay")  # least recent left
        assert keys.count() == 3
    finally:
        keys.close()


class Settings:
    """Governance state with personal headers (the gateway reads only its settings)."""

    def settings(self) -> dict[str, Any]:
        return PERSONAL


def test_a_subject_whose_key_cannot_be_had_is_withheld_within_a_bound() -> None:
    down = SubjectKeys("postgresql://postgres@127.0.0.1:9/none", BOX)  # nothing listens
    governance = Governance(key())
    governance.state = Settings()
    limits = Limits(max_body_bytes=1024, settle_timeout_s=1.0)
    rng = random.Random(1)
    made = Gateway(
        governance, Usage(), PinnedClock(NOW), rng, Origin("gw", "i1"), limits, KeyRing(down)
    )
    headers = {"x-user-id": "gus", "x-tenant": "acme"}
    started = time.monotonic()
    asyncio.run(made.prepare_subjects(headers))
    waited = time.monotonic() - started

    assert made.recorded(headers) == {"x-user-id": WITHHELD, "x-tenant": "acme"}
    assert waited < SUBJECT_KEY_WAIT_S + 5  # bounded (generous under load)


def test_without_a_ring_a_personal_value_is_withheld_not_recorded() -> None:
    governance = Governance(key())
    governance.state = Settings()
    limits = Limits(max_body_bytes=1024, settle_timeout_s=1.0)
    rng = random.Random(1)
    made = Gateway(governance, Usage(), PinnedClock(NOW), rng, Origin("gw", "i1"), limits)
    assert made.recorded({"x-user-id": "hal"}) == {"x-user-id": WITHHELD}


def test_govledger_users_forget_runs_on_the_store(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Store(sqlite_url).close()
    key_file = tmp_path / "secret.key"
    box = SecretBox.from_environment_or_file(key_file)
    keys = SubjectKeys(sqlite_url, box)
    ring = KeyRing(keys)
    ring.prepare(["ivy@example.com"])
    sealed = ring.seal("ivy@example.com")
    keys.close()
    monkeypatch.delenv("GOVLEDGER_SECRET_KEY", raising=False)
    env = {"GOVLEDGER_DATABASE_URL": sqlite_url, "GOVLEDGER_SECRET_KEY_FILE": str(key_file)}

    done = CliRunner().invoke(app, ["users", "forget", "-"], input="ivy@example.com\n", env=env)
    again = CliRunner().invoke(app, ["users", "forget", "ivy@example.com"], env=env)
    store = Store(sqlite_url)
    erased = [e for _, e in store.iterate("governance") if isinstance(e, ev.SubjectErased)]
    store.close()
    fresh = SubjectKeys(sqlite_url, box)
    shown = KeyRing(fresh).shown([sealed])
    fresh.close()

    assert done.exit_code == 0, done.output
    assert "its key destroyed" in done.output and "ivy" not in done.output
    assert again.exit_code == 0 and "had no key" in again.output
    assert [e.keys_destroyed for e in erased] == [1, 0]
    assert all(e.source == "cli" and e.ref == ring.ref("ivy@example.com") for e in erased)
    assert shown == [ERASED]


def test_a_long_subject_is_forgotten_as_its_header_was_recorded(sqlite_url: str) -> None:
    long = "é" * 300  # 600 UTF-8 bytes: recorded as the first 256
    keys = SubjectKeys(sqlite_url, BOX)
    ring = KeyRing(keys)
    appended: list[ev.GovernanceEvent] = []
    try:
        ring.prepare([recorded_value(long)])
        event = forget(ring, appended.extend, long, "ops", "cli", NOW)
    finally:
        keys.close()
    assert event.keys_destroyed == 1 and appended == [event]
    assert "é" not in event.ref


def test_an_erasure_that_cannot_be_recorded_still_destroys_the_key(sqlite_url: str) -> None:
    keys = SubjectKeys(sqlite_url, BOX)
    ring = KeyRing(keys)

    def down(_events: object) -> None:
        raise OSError("store down")

    try:
        ring.prepare(["kim"])
        with pytest.raises(ErasureNotRecordedError, match="run it again"):
            forget(ring, down, "kim", "ops", "cli", NOW)
        assert keys.find(ring.ref("kim")) is None and not ring.has("kim")
    finally:
        keys.close()
