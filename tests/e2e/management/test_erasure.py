"""Erasure by crypto-shredding, end to end on both stores: personal header values are sealed
in the events (never in clear in any database file, export or log line); after
`POST /api/subjects/forget` the subject shows as `erased` in the spend report, before and
after a rebuild, while totals are unchanged, other subjects still open, and `audit verify`
passes; the erasure is a `SubjectErased` event naming only the subject's reference, and an
erasure made by `govledger users forget` beside the server reaches it through its tail."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import psycopg
import pytest
from typer.testing import CliRunner

from govledger.exporters.audit_chain import verify
from govledger.exporters.siem_export import replay
from govledger.exporters.siem_sinks import StreamSink
from govledger.ledger import events as ev
from govledger.ledger.personal import ERASED, is_sealed
from govledger.projections.database import ViewDatabase
from govledger.projections.rebuild import rebuild_views
from govledger.proxy.cli.main import app
from tests.conftest import RunningGateway
from tests.e2e.management.conftest import gateway_on
from tests.e2e.management.support import CONFIG, Api, poll

ALICE = "alice.erasable@example.com"  # the subject to forget
BOB = "bob-keeps-7731"  # a subject that stays
ERASURE_CONFIG: dict[str, Any] = {
    **CONFIG,
    "record_headers": ["x-user-id", "x-tenant"],
    "personal_headers": ["x-user-id"],
}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def erasing(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningGateway, Path]]:
    """A gateway recording x-user-id as personal data, and its data folder."""
    folder = tmp_path_factory.mktemp("erasure")
    for running in gateway_on(request.param, folder, ERASURE_CONFIG):
        yield running, folder


def chat(gateway: RunningGateway, key: str, user: str, calls: int) -> None:
    """Chat calls sent with an x-user-id header."""
    client = openai.OpenAI(
        base_url=gateway.url + "/v1",
        api_key=key,
        max_retries=0,
        default_headers={"x-user-id": user, "x-tenant": "acme"},
    )
    for _ in range(calls):
        client.chat.completions.create(
            model="m1", messages=[{"role": "user", "content": "hi"}], max_tokens=5
        )


def stored_text(url: str, folder: Path) -> bytes:
    """Every byte the store holds: the SQLite files, or every row of every table."""
    if url.startswith("sqlite"):
        return b"".join(path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file())
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        rows = [
            conn.execute(f'SELECT t::text FROM "{name}" t').fetchall()  # noqa: S608
            for (name,) in tables
        ]
    return "\n".join(str(row) for table in rows for row in table).encode()


def by_user(api: Api) -> dict[str, Decimal]:
    """The spend report grouped by x-user-id: user -> cost."""
    rows = api.get("/api/reports/spend?header=x-user-id&granularity=month&limit=1000").json
    found: dict[str, Decimal] = {}
    for row in rows["data"]:
        found[row["group"]] = found.get(row["group"], Decimal(0)) + Decimal(row["cost"])
    return found


def exported(gateway: RunningGateway) -> str:
    """The whole ledger replayed as ECS records."""
    out = io.StringIO()
    replay(gateway.runtime.store, None, None, "ecs", StreamSink(out))
    return out.getvalue()


def test_a_forgotten_subject_is_erased_everywhere_and_the_ledger_still_verifies(
    erasing: tuple[RunningGateway, Path], caplog: pytest.LogCaptureFixture
) -> None:
    gateway, folder = erasing
    caplog.set_level(logging.DEBUG)
    api = Api(gateway.url)
    url = gateway.runtime.settings.database_url
    key = {"id": "k-erase", "name": "erase", "provider_configs": [{"provider": "mock"}]}
    value = api.post("/api/governance/virtual-keys", key).json["value"]
    chat(gateway, value, ALICE, 3)
    chat(gateway, value, BOB, 2)
    refused = openai.OpenAI(
        base_url=gateway.url + "/v1",
        api_key="sk-bf-not-a-key",
        max_retries=0,
        default_headers={"x-user-id": ALICE},
    )
    with pytest.raises(openai.AuthenticationError):
        refused.chat.completions.create(model="m1", messages=[{"role": "user", "content": "x"}])
    rows = poll(
        lambda: api.get("/api/audit/requests?limit=1000").json["data"],
        lambda rows: len(rows) == 6 and all(r["status"] != "admitted" for r in rows),
    )
    before = by_user(api)
    usage = [e for _, e in gateway.runtime.store.iterate("usage")]
    sealed = [
        e.headers["x-user-id"]
        for e in usage
        if isinstance(e, ev.RequestAdmitted | ev.RequestRejected)
    ]

    assert set(before) == {ALICE, BOB} and len(sealed) == 6 and all(map(is_sealed, sealed))
    assert all(e.headers["x-tenant"] == "acme" for e in usage if isinstance(e, ev.RequestAdmitted))
    assert ALICE.encode() not in stored_text(url, folder)  # sealed from the start
    assert BOB.encode() not in stored_text(url, folder)
    assert ALICE not in exported(gateway) and BOB not in exported(gateway)

    viewer = api.post("/api/admin-tokens", {"name": "viewer-erase", "role": "Viewer"}).json
    denied = api.as_(viewer["token"]).post("/api/subjects/forget", {"subject": ALICE})
    bad = api.post("/api/subjects/forget", {"subject": ""})
    forgot = api.post("/api/subjects/forget", {"subject": ALICE})
    again = api.post("/api/subjects/forget", {"subject": ALICE})

    assert denied.status == 403 and denied.error["permission"] == "subjects:delete"
    assert bad.status == 422 and bad.error["code"] == "invalid_request"
    assert forgot.status == 200 and forgot.json["keys_destroyed"] == 1, forgot.text
    assert again.status == 200 and again.json["keys_destroyed"] == 0
    assert ALICE not in forgot.text
    assert f"sealed:{forgot.json['ref']}" in exported(gateway)  # the pseudonym, no ciphertext
    assert "gl-sealed:" not in exported(gateway)
    after = by_user(api)
    assert after == {ERASED: before[ALICE], BOB: before[BOB]}
    assert sum(after.values()) == sum(Decimal(r["cost"]) for r in rows)

    store = gateway.runtime.store
    db = ViewDatabase(url)
    try:
        head = store.max_position("governance")
        verdict = poll(lambda: verify(store, db, extend=False), lambda v: v.checked >= head)
        assert verdict.intact, verdict.describe()
        rebuild_views(store, url)
        assert by_user(api) == after  # a rebuild folds the sealed values again: still erased
    finally:
        db.close()
    forgotten = [e for _, e in store.iterate("governance") if isinstance(e, ev.SubjectErased)]
    assert [e.keys_destroyed for e in forgotten] == [1, 0]
    assert forgotten[0].ref == forgot.json["ref"] and forgotten[0].actor == "token:bootstrap"
    assert [e for _, e in store.iterate("usage")] == usage  # no event changed
    chat(gateway, value, ALICE, 1)  # the subject comes back: a new key, a new subject
    poll(lambda: by_user(api), lambda shown: ALICE in shown)
    env = {"GOVLEDGER_DATABASE_URL": url, "GOVLEDGER_SECRET_KEY_FILE": str(folder / "secret.key")}
    cli = CliRunner().invoke(app, ["users", "forget", BOB], env=env)  # beside the server
    assert cli.exit_code == 0, cli.output
    shown = poll(lambda: by_user(api), lambda shown: BOB not in shown)  # its tail evicted the key
    assert sum(shown.values()) == sum(after.values()) + shown[ALICE]
    now = gateway.runtime.clock.now()
    controls = api.get(f"/api/reports/controls?period={now.year}-{now.month:02d}").json["data"]
    erasures = {r["control"]: r for r in controls if r["evidence"] == "erasures"}
    recorded = [e for _, e in store.iterate("governance") if isinstance(e, ev.SubjectErased)]
    assert erasures["A.8.10"]["count"] == len(recorded) == 3
    assert erasures["A.5.34"]["samples"][0].startswith(forgot.json["ref"])
    text = stored_text(url, folder) + exported(gateway).encode()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert ALICE.encode() not in text and BOB.encode() not in text
    assert ALICE not in logged and BOB not in logged
