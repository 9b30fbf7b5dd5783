"""Personal keys: a signed-in user makes, uses, rotates and revokes keys within team rules."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import RunningGateway
from tests.e2e.identity.idp import IdentityProvider
from tests.e2e.management.support import ADMIN

HI: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


def me(gateway: RunningGateway, token: str, method: str, path: str = "", body: Any = None) -> Any:
    return httpx.request(
        method,
        f"{gateway.url}/api/me/keys{path}",
        json=body,
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    )


@pytest.fixture
def member(idp: IdentityProvider) -> str:
    """A bearer token of a Viewer in team platform (no right to manage keys)."""
    return idp.mint({"sub": f"m-{uuid.uuid4().hex[:6]}", "groups": ["gl-viewers", "platform-eng"]})


def test_a_member_makes_uses_rotates_and_revokes_a_key(
    gateway: RunningGateway, member: str
) -> None:
    assert me(gateway, member, "GET").json()["data"] == []  # the user is synced on this call
    made = me(gateway, member, "POST", body={"name": "laptop"})
    assert made.status_code == 201, made.text
    key = made.json()
    assert key["team_id"] == "platform" and key["user_id"].startswith("m-")
    assert key["budgets"][0]["max_limit"] == "1"
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key["value"], max_retries=0) as sdk:
        assert sdk.chat.completions.create(model="m1", messages=HI, max_tokens=5).choices
    listed = me(gateway, member, "GET").json()["data"]
    assert [k["id"] for k in listed] == [key["id"]]
    assert "value" not in listed[0] and "value_hash" not in listed[0]
    rotated = me(gateway, member, "POST", f"/{key['id']}/rotate", {"grace_seconds": 0})
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["value"] != key["value"]
    assert me(gateway, member, "DELETE", f"/{key['id']}").status_code == 204
    assert me(gateway, member, "GET").json()["data"] == []


def test_the_team_rules_bound_a_personal_key(gateway: RunningGateway, member: str) -> None:
    me(gateway, member, "GET")
    over = me(gateway, member, "POST", body={"name": "big", "budget": "5", "models": ["gpt-x"]})
    assert over.status_code == 422
    fields = {p["field"] for p in over.json()["error"]["problems"]}
    assert fields == {"budget", "models[0]"}
    late = me(gateway, member, "POST", body={"name": "old", "expires_at": "2099-01-01T00:00:00Z"})
    assert late.status_code == 422
    for name in ("one", "two"):
        assert me(gateway, member, "POST", body={"name": name}).status_code == 201
    third = me(gateway, member, "POST", body={"name": "three"})
    assert third.status_code == 422


def test_another_users_key_and_an_admin_token_are_refused(
    gateway: RunningGateway, member: str, idp: IdentityProvider
) -> None:
    me(gateway, member, "GET")
    key = me(gateway, member, "POST", body={"name": "mine"}).json()
    other = idp.mint({"sub": f"o-{uuid.uuid4().hex[:6]}", "groups": ["gl-viewers", "platform-eng"]})
    assert me(gateway, other, "DELETE", f"/{key['id']}").status_code == 404
    assert me(gateway, ADMIN, "GET").status_code == 403
    outsider = idp.mint({"sub": f"x-{uuid.uuid4().hex[:6]}", "groups": ["gl-viewers"]})
    refused = me(gateway, outsider, "POST", body={"name": "k"})
    assert refused.status_code == 422
    assert refused.json()["error"]["problems"][0]["field"] == "team_id"
