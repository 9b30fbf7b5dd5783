"""The compliance report of a period: governance changes with before and after, spend by
customer, team and key, refused requests by reason; its figures equal the ledger's, in
CSV and JSON Lines, over the API (reports:view) and `govledger reports compliance`."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import openai
from typer.testing import CliRunner

from govledger.ledger import events as ev
from govledger.proxy.cli.main import app
from tests.conftest import RunningGateway
from tests.e2e.management.support import ADMIN, Api, poll


def chat(gateway: RunningGateway, value: str, calls: int) -> int:
    """Make `calls` chat calls with a key; returns how many were refused as rate limited."""
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=value, max_retries=0)
    limited = 0
    for _ in range(calls):
        try:
            client.chat.completions.create(
                model="m1", messages=[{"role": "user", "content": "hi"}], max_tokens=5
            )
        except openai.RateLimitError:
            limited += 1
    return limited


def ledger_figures(gateway: RunningGateway, since: datetime) -> dict[str, Any]:
    """What the ledger itself says about the period: costs per key, refusals, changes."""
    store = gateway.runtime.store
    cost: dict[str, Decimal] = {}
    refused: Counter[tuple[str, str]] = Counter()
    key_of: dict[str, str] = {}
    for _, event in store.iterate("usage"):
        if event.timestamp < since:
            continue
        if isinstance(event, ev.RequestAdmitted):
            key_of[event.request_id] = event.key_id
        if isinstance(event, ev.RequestSettled):
            key = key_of[event.request_id]
            cost[key] = cost.get(key, Decimal(0)) + event.cost
        if isinstance(event, ev.RequestRejected):
            refused[(event.code, event.key_id or "")] += 1
    changes = [
        (event.actor, event.entity_id)
        for _, event in store.iterate("governance")
        if isinstance(event, ev.EntityEvent) and event.timestamp >= since
    ]
    return {"cost": cost, "refused": refused, "changes": changes}


def test_the_compliance_report_of_a_period_equals_the_ledger(
    api: Api, gateway: RunningGateway
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    api.post("/api/governance/customers", {"id": "c-comp", "name": "Comp"})
    api.post("/api/governance/teams", {"id": "t-comp", "name": "T", "customer_id": "c-comp"})
    limited = {"request_max_limit": 3, "request_reset_duration": "1h"}
    mock = [{"provider": "mock"}]
    one = {"id": "k-comp", "name": "one", "team_id": "t-comp", "provider_configs": mock}
    two = {"id": "k-comp2", "name": "two", "customer_id": "c-comp", "provider_configs": mock}
    first = api.post("/api/governance/virtual-keys", {**one, "rate_limit": limited}).json["value"]
    second = api.post("/api/governance/virtual-keys", two).json["value"]
    api.put("/api/governance/customers/c-comp", {"name": "Compliance"})
    refusals = chat(gateway, first, 5)
    chat(gateway, second, 2)
    query = f"from={since.isoformat().replace('+00:00', 'Z')}"
    poll(
        lambda: api.get(f"/api/audit/requests?{query}&limit=1000").json["data"],
        lambda rows: len(rows) == 7 and all(r["status"] != "admitted" for r in rows),
    )
    poll(
        lambda: api.get(f"/api/audit/events?{query}&resource_id=c-comp").json["data"],
        lambda rows: len(rows) == 2,
    )

    lines = api.get(f"/api/reports/compliance?{query}&format=jsonl").text.splitlines()
    rows = [json.loads(line) for line in lines]
    as_csv = list(
        csv.DictReader(io.StringIO(api.get(f"/api/reports/compliance?{query}&format=csv").text))
    )
    truth = ledger_figures(gateway, since)

    spend = {(r["dimension"], r["group"]): r for r in rows if r["section"] == "spend"}
    changes = [r for r in rows if r["section"] == "change"]
    refused = {
        (r["code"], r["key_id"] or ""): r["count"] for r in rows if r["section"] == "refused"
    }
    assert refusals == 2
    assert refused == dict(truth["refused"]) == {("request_limited", "k-comp"): 2}
    for key, cost in truth["cost"].items():
        assert Decimal(spend[("virtual_key", key)]["cost"]) == cost
    total = sum(truth["cost"].values(), Decimal(0))
    assert Decimal(spend[("customer", "c-comp")]["cost"]) == total > 0
    assert Decimal(spend[("team", "t-comp")]["cost"]) == truth["cost"]["k-comp"]
    assert spend[("virtual_key", "k-comp")]["requests"] == 3
    assert [(c["actor"], c["resource_id"]) for c in changes] == truth["changes"]
    renamed = next(c for c in changes if c["action"] == "customer.updated")
    assert (renamed["before"]["name"], renamed["after"]["name"]) == ("Comp", "Compliance")
    assert len(as_csv) == len(rows) and list(as_csv[0])[0] == "section"
    assert [r["section"] for r in as_csv] == [r["section"] for r in rows]
    assert not any(first in line or second in line for line in lines)


def test_the_compliance_report_needs_reports_view(api: Api) -> None:
    api.post("/api/roles", {"name": "no-reports", "permissions": ["customers:view"]})
    token = api.post("/api/admin-tokens", {"name": "no-reports", "role": "no-reports"})
    viewer = api.post("/api/admin-tokens", {"name": "viewer-comp", "role": "Viewer"})

    refused = api.as_(token.json["token"]).get("/api/reports/compliance")
    allowed = api.as_(viewer.json["token"]).get("/api/reports/compliance?format=csv")
    backwards = api.get("/api/reports/compliance?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z")

    assert refused.status == 403
    assert allowed.status == 200 and allowed.text.startswith("section,at,actor")
    assert backwards.status in (400, 422)


def test_govledger_reports_compliance_writes_csv_and_json_lines(gateway: RunningGateway) -> None:
    env = {"GOVLEDGER_URL": gateway.url, "GOVLEDGER_TOKEN": ADMIN}
    runner = CliRunner()
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat()

    # JSON Lines first: the views only grow, so the later CSV holds at least as many rows.
    as_jsonl = runner.invoke(
        app, ["reports", "compliance", "--from", since, "--format", "jsonl"], env=env
    )
    as_csv = runner.invoke(app, ["reports", "compliance", "--from", since, "--to", until], env=env)
    wrong = runner.invoke(app, ["reports", "compliance", "--format", "xml"], env=env)

    rows = [json.loads(line) for line in as_jsonl.output.splitlines()]
    assert as_csv.exit_code == 0 and as_csv.output.startswith("section,at,actor,source,action")
    assert (
        as_jsonl.exit_code == 0
        and rows
        and {r["section"] for r in rows}
        <= {
            "change",
            "spend",
            "refused",
        }
    )
    assert len(as_csv.output.splitlines()) >= len(rows) + 1
    assert wrong.exit_code != 0
