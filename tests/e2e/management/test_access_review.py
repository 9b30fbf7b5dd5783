"""The access review at an instant and its changes between two, over the API (CSV, JSON
Lines, printable HTML, escaped) and `govledger reports access`; the control evidence of a
period, whose figures equal direct queries of the ledger; both stores."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import time
from datetime import UTC, datetime
from typing import Any

import openai
from typer.testing import CliRunner

from govledger.exporters.audit_chain import verify
from govledger.ledger import events as ev
from govledger.projections.database import ViewDatabase
from govledger.proxy.cli.main import app
from tests.conftest import RunningGateway
from tests.e2e.management.support import ADMIN, Api, poll


def instant() -> str:
    """Now as ISO 8601 with a Z, after a tick so events before and after it are apart."""
    time.sleep(0.01)
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    time.sleep(0.01)
    return now


def by_subject(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Review rows by (subject_type, subject_id)."""
    return {(r["subject_type"], r["subject_id"]): r for r in rows}


def test_the_access_review_shows_each_instant_and_the_changes_between(
    api: Api, gateway: RunningGateway
) -> None:
    api.post("/api/roles", {"name": "auditor", "permissions": ["audit:view"]})
    token = api.post("/api/admin-tokens", {"name": "ann", "role": "auditor"})
    assert token.status == 201, token.text
    api.post("/api/governance/teams", {"id": "t-rev", "name": "<script>alert(1)</script>"})
    mock = [{"provider": "mock"}]
    key = {"id": "k-rev", "name": "rev", "team_id": "t-rev", "provider_configs": mock}
    assert api.post("/api/governance/virtual-keys", key).status == 201
    first = instant()
    api.put("/api/roles/auditor", {"permissions": ["audit:view", "reports:view"]})
    assert api.delete("/api/admin-tokens/ann").status == 204
    assert api.delete("/api/governance/virtual-keys/k-rev").status == 204
    second = instant()

    then = by_subject(api.get(f"/api/reports/access?at={first}").json["data"])
    now = by_subject(api.get(f"/api/reports/access?at={second}").json["data"])
    changes = api.get(f"/api/reports/access?from={first}&to={second}&format=jsonl")
    rows = [json.loads(line) for line in changes.text.splitlines()]

    assert then[("admin_token", "ann")]["role"] == "auditor"
    assert then[("admin_token", "bootstrap")]["role"] == "Admin"
    assert "admin_tokens:create" in then[("admin_token", "bootstrap")]["permissions"]
    assert then[("admin_token", "ann")]["permissions"] == ["audit:view"]
    assert then[("virtual_key", "k-rev")]["team_id"] == "t-rev"
    assert ("admin_token", "ann") not in now and ("virtual_key", "k-rev") not in now
    assert now[("role", "auditor")]["permissions"] == ["audit:view", "reports:view"]
    assert [(r["change"], r["subject_type"], r["subject_id"]) for r in rows] == [
        ("role_change", "role", "auditor"),
        ("revocation", "admin_token", "ann"),
        ("revocation", "virtual_key", "k-rev"),
    ]
    assert rows[0]["detail"] == "added ['reports:view'], removed []"
    assert all(r["source"] == "api" and r["actor"] for r in rows)

    page = api.get(f"/api/reports/access?at={first}&format=html")
    assert page.headers["content-type"].startswith("text/html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>" not in page.text
    assert "SCIM identity" in page.text
    table = list(
        csv.DictReader(io.StringIO(api.get(f"/api/reports/access?at={first}&format=csv").text))
    )
    assert by_subject(table).keys() == then.keys()
    assert all("token_hash" not in line and "value_hash" not in line for line in page.text.split())

    env = {"GOVLEDGER_URL": gateway.url, "GOVLEDGER_TOKEN": ADMIN}
    cli = CliRunner().invoke(app, ["reports", "access", "--at", first], env=env)
    assert cli.exit_code == 0, cli.output
    assert by_subject(list(csv.DictReader(io.StringIO(cli.output)))).keys() == then.keys()
    cli = CliRunner().invoke(
        app, ["reports", "access", "--from", first, "--to", second, "--format", "jsonl"], env=env
    )
    assert [json.loads(line) for line in cli.output.splitlines()] == rows


def test_a_wrong_access_query_is_refused_naming_the_parameter(api: Api) -> None:
    both = api.get("/api/reports/access?at=2026-01-01T00:00:00Z&from=2026-01-01T00:00:00Z")
    alone = api.get("/api/reports/access?from=2026-01-01T00:00:00Z")
    backwards = api.get("/api/reports/access?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z")
    period = api.get("/api/reports/controls?period=2026-Q5")

    assert both.status == 422 and "at" in both.text
    assert alone.status == 422 and "to" in alone.text
    assert backwards.status == 422 and "after" in backwards.text
    assert period.status == 422 and "period" in period.text


def quarter(now: datetime) -> str:
    """The quarter of an instant, e.g. 2026-Q4."""
    return f"{now.year}-Q{(now.month - 1) // 3 + 1}"


def test_the_control_evidence_of_a_period_equals_the_ledger(
    api: Api, gateway: RunningGateway
) -> None:
    mock = [{"provider": "mock"}]
    limited = {"request_max_limit": 1, "request_reset_duration": "1h"}
    key = {"id": "k-ctl", "name": "ctl", "provider_configs": mock, "rate_limit": limited}
    value = api.post("/api/governance/virtual-keys", key).json["value"]
    viewer = api.post("/api/admin-tokens", {"name": "viewer-ctl", "role": "Viewer"}).json["token"]
    assert api.as_(viewer).post("/api/governance/teams", {"id": "x", "name": "x"}).status == 403
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=value, max_retries=0)
    for _ in range(3):
        with contextlib.suppress(openai.RateLimitError):
            client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "hi"}])
    store = gateway.runtime.store
    db = ViewDatabase(gateway.runtime.settings.database_url)
    head = store.max_position("governance")
    poll(lambda: verify(store, db, extend=False), lambda v: v.intact and v.checked >= head)
    poll(
        lambda: api.get("/api/audit/requests?key_id=k-ctl&limit=100").json["data"],
        lambda rows: len(rows) == 3 and all(r["status"] != "admitted" for r in rows),
    )
    period = quarter(datetime.now(UTC))

    report = api.get(f"/api/reports/controls?period={period}").json
    figures = {(r["control"], r["evidence"]): r for r in report["data"]}
    governance = [e for _, e in store.iterate("governance")]
    start = datetime.fromisoformat(report["from"])
    inside = [e for e in governance if e.timestamp >= start]
    rejected = [e for _, e in store.iterate("usage") if isinstance(e, ev.RequestRejected)]
    live_keys: dict[str, Any] = {}
    for e in governance:
        if isinstance(e, ev.VirtualKeyCreated | ev.VirtualKeyUpdated | ev.VirtualKeyRotated):
            live_keys[e.entity_id] = e.data
        elif isinstance(e, ev.VirtualKeyDeleted):
            live_keys.pop(e.entity_id, None)
    chain = verify(store, db, extend=False)

    assert "not a certification" in report["disclaimer"]
    assert (
        figures[("CC6.1", "management_denials")]["count"]
        == sum(isinstance(e, ev.AccessDenied) for e in inside)
        >= 1
    )
    assert figures[("CC6.1", "refused_requests")]["count"] == len(rejected) == 2
    assert figures[("CC6.1", "keys_without_expiry")]["count"] == sum(
        1 for d in live_keys.values() if not d.get("expires_at")
    )
    assert "k-ctl" in figures[("CC6.1", "keys_without_expiry")]["samples"]
    assert figures[("CC8.1", "governance_changes")]["count"] == sum(
        isinstance(e, ev.EntityEvent) for e in inside
    )
    assert figures[("A.8.15", "governance_events")]["count"] == len(inside)
    assert report["audit_chain"] == {"position": head, "digest": chain.head}
    assert figures[("A.8.15", "audit_chain_head")]["samples"] == [chain.head]
    grants = figures[("CC6.2", "grants")]
    assert "virtual_key:k-ctl" in grants["samples"] or grants["count"] > 5
    empty = api.get("/api/reports/controls?period=2001-Q1").json["data"]
    assert all(r["count"] == 0 for r in empty if r["evidence"] != "audit_chain_head")
    as_csv = api.get(f"/api/reports/controls?period={period}&format=csv").text
    assert as_csv.startswith("framework,control,title,evidence,count")
    printable = api.get(f"/api/reports/controls?period={period}&format=html").text
    assert chain.head in printable and "not a certification" in printable
    env = {"GOVLEDGER_URL": gateway.url, "GOVLEDGER_TOKEN": ADMIN}
    cli = CliRunner().invoke(app, ["reports", "controls", "--period", period], env=env)
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.output)["audit_chain"] == report["audit_chain"]
