"""Usage by user over HTTP on both stores: a user's two keys are summed under the user in the
spend report (JSON, CSV, the CLI), the request log filters by user, /metrics counts by user."""

from __future__ import annotations

import csv
import io
import uuid
from decimal import Decimal

import openai
from typer.testing import CliRunner

from govledger.proxy.cli.main import app
from tests.conftest import RunningGateway
from tests.e2e.identity import scim_bodies as bodies
from tests.e2e.identity.test_user_governance import HI, make_key
from tests.e2e.management.support import ADMIN, Api, eventually
from tests.integration.exporters.support import sample, scrape


def chat(gateway: RunningGateway, key: str, calls: int) -> None:
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0) as sdk:
        for _ in range(calls):
            sdk.chat.completions.create(model="m1", messages=HI, max_tokens=5)


def test_a_users_two_keys_are_summed_under_the_user(gateway: RunningGateway, api: Api) -> None:
    made = api.post(
        "/scim/v2/Users",
        bodies.okta_create(f"g.{uuid.uuid4().hex[:6]}@example.com", "g"),
        headers={"content-type": "application/scim+json"},
    )
    assert made.status == 201, made.text
    user_id = made.json["id"]
    chat(gateway, make_key(api, user_id=user_id), 2)
    chat(gateway, make_key(api, user_id=user_id), 1)
    chat(gateway, make_key(api), 1)  # a key without a user

    def mine() -> dict[str, object] | None:
        rows = api.get("/api/reports/spend?group_by=user&limit=1000").json["data"]
        found = [r for r in rows if r["group"] == user_id]
        keyless = any(r["group"] is None for r in rows)  # the last call, folded last
        return found[0] if found and found[0]["requests"] == 3 and keyless else None

    row = eventually(mine, seconds=30)
    logged = api.get(f"/api/audit/requests?user_id={user_id}").json["data"]
    as_csv = api.get("/api/reports/spend?group_by=user&format=csv&limit=1000")
    log_csv = api.get(f"/api/audit/requests?user_id={user_id}&format=csv")

    assert len(logged) == 3 and {r["user_id"] for r in logged} == {user_id}
    assert len({r["key_id"] for r in logged}) == 2
    assert Decimal(str(row["cost"])) == sum(Decimal(r["cost"]) for r in logged)
    assert any(r["group"] == user_id for r in csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["user_id"] for r in csv.DictReader(io.StringIO(log_csv.text))] == [user_id] * 3
    assert api.get("/api/reports/spend?group_by=person").status == 422
    env = {"GOVLEDGER_URL": gateway.url, "GOVLEDGER_TOKEN": ADMIN}
    report = CliRunner().invoke(app, ["reports", "spend", "--group-by", "user"], env=env)
    listed = CliRunner().invoke(app, ["audit", "requests", "--user", user_id], env=env)
    assert report.exit_code == 0 and user_id in report.stdout, report.output
    assert listed.exit_code == 0 and len(listed.stdout.splitlines()) == 4, listed.output

    def counted() -> float | None:
        value = sample(scrape(gateway), "govledger_user_requests_total", user=user_id)
        return value if value == 3 else None

    assert eventually(counted, seconds=30) == 3
