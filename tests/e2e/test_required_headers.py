"""Required headers: `*` present, `env.NAME` equal to the variable, else a full-match regular
expression; names case-insensitive; checked before authentication on every surface, each
refusal an event listing every missing header; recorded headers group the spend report."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anthropic
import orjson
import pytest
from google.genai import errors as genai_errors

from govledger.ledger import events as ev
from tests.conftest import RunningGateway, start_gateway
from tests.e2e.management.support import ADMIN, Api, eventually
from tests.e2e.openai_support import (
    KEY,
    admitted_for,
    chat_body,
    flush_ledger,
    of_type,
    raw_request,
    virtual_key,
)
from tests.e2e.vendor_support import anthropic_client, gemini_client, priced_config, vendor

ENV = "GOVLEDGER_E2E_STAGE"
RULES = {"X-Tenant": "*", "x-stage": f"env.{ENV}", "x-team": "team-[a-z]+"}
GOOD = {"x-tenant": "acme", "x-stage": "staging", "x-team": "team-blue"}
CHAT = "/v1/chat/completions"

pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession from ClientSession:DeprecationWarning"
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """A gateway requiring three headers and recording two, with the Admin token."""
    tmp = tmp_path_factory.mktemp("required")
    with pytest.MonkeyPatch.context() as env:
        env.setenv(ENV, "staging")
        keys = [virtual_key("k1", KEY, providers=("openai", "anthropic", "gemini"))]
        providers = [vendor(kind, kind) for kind in ("openai", "anthropic", "gemini")]
        config = priced_config(
            keys, providers, required_headers=RULES, record_headers=["x-tenant", "X-Team"]
        )
        running = start_gateway(f"sqlite:///{tmp}/ledger.sqlite", config, tmp, admin_token=ADMIN)
        yield running
        running.stop()


def chat(gateway: RunningGateway, headers: dict[str, str], key: str | None = KEY) -> Any:
    """One raw chat request with the given extra headers."""
    sent = {"content-type": "application/json", **headers}
    if key:
        sent["authorization"] = f"Bearer {key}"
    return raw_request(gateway, CHAT, chat_body(max_tokens=5), sent)


def rejection(gateway: RunningGateway, request_id: str) -> ev.RequestRejected:
    """The rejected event of one request."""
    flush_ledger(gateway)
    [event] = [e for e in of_type(gateway, ev.RequestRejected) if e.request_id == request_id]
    return event


def test_a_request_missing_every_header_is_refused_400_before_authentication(
    gateway: RunningGateway,
) -> None:
    response = chat(gateway, {}, key=None)  # no key either: the headers are checked first
    assert response.status == 400
    error = response.error()
    assert error["code"] == "missing_required_headers"
    assert error["param"] == "x-stage,x-team,x-tenant"
    assert all(name in error["message"] for name in ("x-stage", "x-team", "x-tenant"))
    event = rejection(gateway, response.headers["x-govledger-request-id"])
    assert (event.code, event.key_id, event.level) == ("missing_required_headers", None, "request")


@pytest.mark.parametrize(
    ("headers", "missing"),
    [
        ({**GOOD, "x-stage": "production"}, "x-stage"),
        ({**GOOD, "x-team": "team-42"}, "x-team"),
        ({**GOOD, "x-team": "my-team-blue"}, "x-team"),  # the whole value must match
        ({k: v for k, v in GOOD.items() if k != "x-tenant"}, "x-tenant"),
        ({**GOOD, "x-tenant": ""}, None),  # present is enough for "*"
    ],
    ids=["env value differs", "regex fails", "regex matches only a part", "absent", "empty"],
)
def test_each_rule_decides_on_its_own_header(
    gateway: RunningGateway, headers: dict[str, str], missing: str | None
) -> None:
    response = chat(gateway, headers)
    if missing is None:
        assert response.status == 200
    else:
        assert (response.status, response.error()["param"]) == (400, missing)


def test_names_are_case_insensitive_and_recorded_headers_land_on_the_request_events(
    gateway: RunningGateway,
) -> None:
    response = chat(gateway, {"X-TENANT": "acme", "X-Stage": "staging", "X-Team": "team-blue"})
    assert response.status == 200
    admitted = admitted_for(gateway, response.headers["x-govledger-request-id"])
    assert admitted.headers == {"x-tenant": "acme", "x-team": "team-blue"}


def test_the_anthropic_and_gemini_surfaces_refuse_in_their_own_shapes(
    gateway: RunningGateway,
) -> None:
    with anthropic_client(gateway, api_key=KEY) as sdk:
        with pytest.raises(anthropic.BadRequestError) as caught:
            sdk.messages.create(
                model="m1", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
            )
        body = caught.value.body
        assert isinstance(body, dict)
        assert body["error"]["details"]["error_code"] == "missing_required_headers"
        ok = sdk.messages.create(
            model="m1",
            max_tokens=5,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers=GOOD,
        )
        assert ok.content
    sdk_g = gemini_client(gateway, "v1", KEY)
    with pytest.raises(genai_errors.ClientError) as refused:
        sdk_g.models.generate_content(model="m1", contents="hi")
    assert (refused.value.code, refused.value.status) == (400, "INVALID_ARGUMENT")
    assert refused.value.details["error"]["details"][0]["reason"] == "missing_required_headers"
    assert (
        gemini_client(gateway, "v1", KEY, **GOOD)
        .models.generate_content(model="m1", contents="hi")
        .text
    )


def test_mcp_tool_execution_needs_the_headers_too_and_its_refusal_is_an_event(
    gateway: RunningGateway,
) -> None:
    call = {"id": "c", "type": "function", "function": {"name": "files-read", "arguments": "{}"}}
    auth = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    response = raw_request(gateway, "/v1/mcp/tool/execute", orjson.dumps(call), auth)
    assert (response.status, response.error()["code"]) == (400, "missing_required_headers")
    flush_ledger(gateway)
    request_id = response.headers["x-govledger-request-id"]
    [event] = [e for e in of_type(gateway, ev.McpToolRefused) if e.request_id == request_id]
    assert event.code == "missing_required_headers"


def test_the_spend_report_groups_by_a_recorded_header(gateway: RunningGateway) -> None:
    for tenant, calls in (("north", 2), ("south", 1)):
        for _ in range(calls):
            assert chat(gateway, {**GOOD, "x-tenant": tenant}).status == 200
    api = Api(gateway.url)

    def by_tenant() -> dict[str, dict[str, Any]] | None:
        rows = api.get("/api/reports/spend?header=X-Tenant&limit=1000").json["data"]
        found = {row["group"]: row for row in rows}
        done = found.get("north", {}).get("requests") == 2 and "south" in found
        return found if done else None

    found = eventually(by_tenant)
    assert found["south"]["requests"] == 1
    assert Decimal(str(found["north"]["cost"])) == 2 * Decimal(str(found["south"]["cost"]))


@pytest.mark.parametrize("name", ["authorization", "X-BF-VK", "cookie", "x-stage"])
def test_the_spend_report_refuses_to_group_by_a_credential_header(
    gateway: RunningGateway, name: str
) -> None:
    # x-stage is checked against an env.NAME value: the config names it a shared secret.
    answer = Api(gateway.url).get(f"/api/reports/spend?header={name}")
    assert answer.status == 422
    assert answer.error["problems"] == [
        {"field": "header", "message": f"{name!r} carries a credential; it is never reported"}
    ]
