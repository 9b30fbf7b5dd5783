"""The user level of the hierarchy: a user's budget stops the keys they own, not a teammate's."""

from __future__ import annotations

import uuid

import openai
import pytest

from govledger.ledger import events as ev
from tests.conftest import RunningGateway
from tests.e2e.identity import scim_bodies as bodies
from tests.e2e.management.support import Api
from tests.e2e.openai_support import flush_ledger

HI: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


def make_key(api: Api, **fields: str) -> str:
    answer = api.post(
        "/api/governance/virtual-keys",
        {
            "id": f"k-{uuid.uuid4().hex[:6]}",
            "name": "k",
            "team_id": "platform",
            "provider_configs": [{"provider": "mock"}],
            **fields,
        },
    )
    assert answer.status == 201, answer.text
    return str(answer.json["value"])


def test_a_spent_user_budget_refuses_their_key_while_a_teammates_works(
    gateway: RunningGateway, api: Api
) -> None:
    scim_user = {**bodies.okta_create(f"u.{uuid.uuid4().hex[:6]}@example.com", "x")}
    made = api.post("/scim/v2/Users", scim_user, headers={"content-type": "application/scim+json"})
    assert made.status == 201, made.text
    user_id = made.json["id"]
    limits = api.put(
        f"/api/users/{user_id}/limits",
        {"budgets": [{"max_limit": "0.00001", "reset_duration": "1d"}]},  # below one call
    )
    assert limits.status == 200, limits.text
    assert limits.json["budgets"][0]["max_limit"] == "0.00001"
    mine = make_key(api, user_id=user_id)
    teammate = make_key(api)
    sdk = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=mine, max_retries=0)
    with sdk, pytest.raises(openai.APIStatusError) as refused:
        sdk.chat.completions.create(model="m1", messages=HI, max_tokens=10)
    assert refused.value.status_code == 402
    assert f"budget exceeded at user '{user_id}'" in str(refused.value)
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=teammate, max_retries=0) as sdk:
        assert sdk.chat.completions.create(model="m1", messages=HI, max_tokens=10).choices
    refusals = [e for e in usage_events(gateway) if isinstance(e, ev.RequestRejected)]
    assert refusals[-1].level == "user"


def test_a_request_on_a_users_key_carries_the_user(gateway: RunningGateway, api: Api) -> None:
    made = api.post(
        "/scim/v2/Users",
        bodies.okta_create(f"r.{uuid.uuid4().hex[:6]}@example.com", "r"),
        headers={"content-type": "application/scim+json"},
    )
    user_id = made.json["id"]
    key = make_key(api, user_id=user_id)
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0) as sdk:
        sdk.chat.completions.create(model="m1", messages=HI, max_tokens=5)
    admitted = [e for e in usage_events(gateway) if isinstance(e, ev.RequestAdmitted)]
    assert admitted[-1].user_id == user_id


def usage_events(gateway: RunningGateway) -> list[ev.LedgerEvent]:
    flush_ledger(gateway)
    return [e for _, e in gateway.runtime.store.iterate("usage", 0)]


def test_a_key_for_an_unknown_user_is_refused_naming_the_field(api: Api) -> None:
    answer = api.post(
        "/api/governance/virtual-keys",
        {"id": f"k-{uuid.uuid4().hex[:6]}", "name": "k", "user_id": "nobody"},
    )
    assert answer.status == 422
    assert answer.error["problems"][0]["field"] == "user_id"


def test_limits_of_an_unknown_user_are_404_and_bad_ones_422(api: Api) -> None:
    assert api.put("/api/users/nobody/limits", {"budgets": []}).status == 404
    bad = api.put("/api/users/nobody/limits", {"budgets": [{"max_limit": "-1"}]})
    assert bad.status == 422
