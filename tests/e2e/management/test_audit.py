"""Audit and reports over HTTP: the trail names the actor, filters and pages, exports CSV and
JSON lines; the request log and spend report follow traffic; secrets never appear."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import openai

from tests.conftest import RunningGateway
from tests.e2e.management.support import (
    ADMIN,
    UPSTREAM_SECRET,
    Api,
    audit_rows,
    eventually,
    poll,
)


def traffic(api: Api, gateway: RunningGateway, key_id: str, calls: int) -> str:
    """Create a key of its own customer and make `calls` chat calls; returns the key value."""
    api.post("/api/governance/customers", {"id": f"c-{key_id}", "name": key_id})
    body = {
        "id": key_id,
        "name": key_id,
        "customer_id": f"c-{key_id}",
        "provider_configs": [{"provider": "mock"}],
    }
    value: str = api.post("/api/governance/virtual-keys", body).json["value"]
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=value, max_retries=0)
    for _ in range(calls):
        client.chat.completions.create(
            model="m1", messages=[{"role": "user", "content": "hi"}], max_tokens=5
        )
    return value


def test_each_change_is_in_the_trail_with_its_actor_before_and_after(api: Api) -> None:
    writer = api.as_(
        api.post("/api/admin-tokens", {"name": "auditee", "role": "Developer"}).json["token"]
    )
    writer.post("/api/governance/customers", {"id": "c-audited", "name": "Before"})
    writer.put("/api/governance/customers/c-audited", {"name": "After"})
    writer.delete("/api/governance/customers/c-audited")

    rows = poll(lambda: audit_rows(api, "resource_id=c-audited"), lambda r: len(r) == 3)

    assert [r["action"] for r in rows] == [
        "customer.created",
        "customer.updated",
        "customer.deleted",
    ]
    assert {(r["actor"], r["source"]) for r in rows} == {("token:auditee", "api")}
    assert rows[1]["before"]["name"] == "Before" and rows[1]["after"]["name"] == "After"
    assert rows[2]["after"] is None
    assert [r["version"] for r in rows] == [1, 2, 3]


def test_audit_events_filter_page_and_export(api: Api) -> None:
    for n in range(3):
        api.post("/api/governance/teams", {"id": f"t-export-{n}", "name": "Export"})
    query = "action=team.created&resource_type=team"
    eventually(
        lambda: (
            [r for r in audit_rows(api, query + "&limit=1000") if r["resource_id"] == "t-export-2"]
            or None
        )
    )

    first = api.get(f"/api/audit/events?{query}&actor=token:bootstrap&limit=2").json
    second = api.get(f"/api/audit/events?{query}&limit=2&cursor={first['next_cursor']}").json
    as_csv = api.get(f"/api/audit/events?{query}&limit=2&format=csv")
    as_jsonl = api.get(f"/api/audit/events?{query}&limit=2&format=jsonl")
    future = api.get("/api/audit/events?from=2999-01-01T00:00:00Z").json

    assert len(first["data"]) == 2 and first["data"][0]["position"] < second["data"][0]["position"]
    assert all(r["action"] == "team.created" for r in first["data"] + second["data"])
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert as_csv.headers["content-type"].startswith("text/csv") and len(rows) == 2
    assert rows[0]["action"] == "team.created" and as_csv.headers["x-next-cursor"]
    lines = [json.loads(line) for line in as_jsonl.text.splitlines()]
    assert [line["position"] for line in lines] == [int(r["position"]) for r in rows]
    assert future["data"] == [] and future["next_cursor"] is None


def test_a_bad_query_value_is_refused_naming_the_parameter(api: Api) -> None:
    answer = api.get("/api/audit/events?format=xml&limit=0")

    assert answer.status == 422
    assert {p["field"] for p in answer.error["problems"]} == {"format", "limit"}


def test_the_request_log_lists_each_call_of_a_key(api: Api, gateway: RunningGateway) -> None:
    traffic(api, gateway, "k-log", 2)

    rows = poll(
        lambda: api.get("/api/audit/requests?virtual_key_id=k-log").json["data"],
        lambda r: len(r) == 2 and all(x["status"] == "ok" for x in r),
    )

    assert {(r["model"], r["provider"], r["customer_id"]) for r in rows} == {
        ("m1", "mock", "c-k-log")
    }
    assert all(Decimal(r["cost"]) > 0 and r["input_tokens"] >= 1 for r in rows)


def test_the_spend_report_groups_by_customer_and_model_per_day(
    api: Api, gateway: RunningGateway
) -> None:
    traffic(api, gateway, "k-spend", 3)

    def spend_of_customer() -> list[dict[str, object]] | None:
        rows = api.get("/api/reports/spend?group_by=customer&granularity=day&limit=1000").json[
            "data"
        ]
        mine = [r for r in rows if r["group"] == "c-k-spend"]
        return mine if mine and mine[0]["requests"] == 3 else None

    [row] = eventually(spend_of_customer)
    logged = api.get("/api/audit/requests?virtual_key_id=k-spend").json["data"]
    by_model = api.get("/api/reports/spend?group_by=model&granularity=month&format=csv")

    assert Decimal(str(row["cost"])) == sum(Decimal(r["cost"]) for r in logged)
    assert len(str(row["period"])) == 10
    assert by_model.text.splitlines()[0] == "period,group,requests,cost,input_tokens,output_tokens"
    assert any(line.split(",")[1] == "m1" for line in by_model.text.splitlines()[1:])


def test_no_answer_ever_carries_a_provider_key_or_a_token_outside_its_issue(
    api: Api, gateway: RunningGateway
) -> None:
    token = api.post("/api/admin-tokens", {"name": "sweep", "role": "Viewer"}).json["token"]
    key = traffic(api, gateway, "k-sweep", 1)
    rotated = api.post("/api/governance/virtual-keys/k-sweep/rotate", {"grace_seconds": 5}).json[
        "value"
    ]
    eventually(lambda: audit_rows(api, "resource_id=k-sweep&action=virtual_key.rotated") or None)
    issued = len(api.seen)
    for caller in (api, api.as_(token)):
        for path in (
            "/api/governance/providers",
            "/api/governance/providers/mock",
            "/api/governance/virtual-keys?limit=1000",
            "/api/governance/virtual-keys/k-sweep",
            "/api/governance/virtual-keys/k-sweep/usage",
            "/api/governance/budgets?limit=1000",
            "/api/admin-tokens?limit=1000",
            "/api/admin-tokens/sweep",
            "/api/roles",
            "/api/audit/events?limit=1000",
            "/api/audit/events?limit=1000&format=csv",
            "/api/audit/events?limit=1000&format=jsonl",
            "/api/audit/requests?limit=1000",
            "/api/reports/spend",
            "/openapi.json",
        ):
            caller.get(path)

    secrets = (UPSTREAM_SECRET, ADMIN, token, key, rotated)
    leaked = [(a.status, s) for a in api.seen[issued:] for s in secrets if s in a.text]
    assert leaked == []
    assert all(a.status in (200, 403) for a in api.seen[issued:])
