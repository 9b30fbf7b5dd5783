"""SCIM 2.0 provisioning as Okta and Entra send it; deprovisioning stops the user's key."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import openai
import pytest

from govledger.ledger import events as ev
from tests.conftest import RunningGateway
from tests.e2e.identity import scim_bodies as bodies
from tests.e2e.management.support import Api

SCIM = "application/scim+json"


@pytest.fixture(scope="module")
def scim_token(gateway: RunningGateway) -> str:
    """A SCIM bearer token: an admin token of a custom role that may manage teams."""
    api = Api(gateway.url)
    role = api.post(
        "/api/roles",
        {"name": "scim", "permissions": [f"teams:{o}" for o in ("view", "create", "update")]},
    )
    assert role.status in (201, 409), role.text
    issued = api.post("/api/admin-tokens", {"name": f"scim-{uuid.uuid4().hex[:6]}", "role": "scim"})
    assert issued.status == 201, issued.text
    return str(issued.json["token"])


def scim(gateway: RunningGateway, token: str, method: str, path: str, body: Any = None) -> Any:
    return httpx.request(
        method,
        f"{gateway.url}/scim/v2{path}",
        json=body,
        headers={"authorization": f"Bearer {token}", "content-type": SCIM},
        timeout=30,
    )


def test_discovery_documents_are_served(gateway: RunningGateway, scim_token: str) -> None:
    config = scim(gateway, scim_token, "GET", "/ServiceProviderConfig")
    assert config.status_code == 200
    assert config.headers["content-type"].startswith(SCIM)
    assert config.json()["patch"]["supported"] is True
    types = scim(gateway, scim_token, "GET", "/ResourceTypes").json()
    assert {r["id"] for r in types["Resources"]} == {"User", "Group"}
    schemas = scim(gateway, scim_token, "GET", "/Schemas").json()
    assert bodies.CORE in {s["id"] for s in schemas["Resources"]}


def test_without_a_token_or_with_a_weak_one_scim_is_refused(
    gateway: RunningGateway, api: Api
) -> None:
    bare = httpx.get(f"{gateway.url}/scim/v2/Users", timeout=30)
    assert bare.status_code == 401
    assert bare.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    viewer = api.post("/api/admin-tokens", {"name": f"v-{uuid.uuid4().hex[:6]}", "role": "Viewer"})
    weak = scim(gateway, viewer.json["token"], "GET", "/Users")
    assert weak.status_code == 403


def test_okta_creates_finds_and_deactivates_a_user(
    gateway: RunningGateway, scim_token: str
) -> None:
    name = f"okta.{uuid.uuid4().hex[:6]}@example.com"
    made = scim(gateway, scim_token, "POST", "/Users", bodies.okta_create(name, "00ujl29u0le"))
    assert made.status_code == 201, made.text
    user = made.json()
    assert user["userName"] == name and user["active"] is True
    assert made.headers["location"].endswith(f"/Users/{user['id']}")
    found = scim(gateway, scim_token, "GET", f'/Users?filter=userName eq "{name}"&startIndex=1')
    assert [u["id"] for u in found.json()["Resources"]] == [user["id"]]
    none = scim(gateway, scim_token, "GET", '/Users?filter=userName eq "nobody@example.com"')
    assert none.json()["totalResults"] == 0
    again = scim(gateway, scim_token, "POST", "/Users", bodies.okta_create(name, "00other"))
    assert again.status_code == 409
    assert again.json()["scimType"] == "uniqueness"
    off = scim(gateway, scim_token, "PATCH", f"/Users/{user['id']}", bodies.okta_deactivate())
    assert off.status_code == 200, off.text
    assert off.json()["active"] is False
    data = gateway.runtime.state.get("user", user["id"])
    assert data["personal"]["given_name"] == "Test"
    assert data["active"] is False


def test_entra_creates_and_patches_with_string_booleans(
    gateway: RunningGateway, scim_token: str
) -> None:
    name = f"Test_User_{uuid.uuid4().hex[:8]}@testuser.com"
    made = scim(gateway, scim_token, "POST", "/Users", bodies.entra_create(name, "0a21f0f2"))
    assert made.status_code == 201, made.text
    user_id = made.json()["id"]
    renamed = scim(
        gateway,
        scim_token,
        "PATCH",
        f"/Users/{user_id}",
        bodies.entra_patch(("Add", "displayName", "Ada L"), ("Replace", "active", "False")),
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["displayName"] == "Ada L"
    assert renamed.json()["active"] is False
    events = [e for _, e in gateway.runtime.store.iterate("governance", 0)]
    changes = [e for e in events if isinstance(e, ev.UserUpdated) and e.entity_id == user_id]
    assert changes and all(e.source == "scim" for e in changes)


def test_unknown_attributes_and_bad_filters_are_refused_and_change_nothing(
    gateway: RunningGateway, scim_token: str
) -> None:
    before = len(gateway.runtime.state.live("user"))
    body = {**bodies.okta_create(f"x.{uuid.uuid4().hex[:6]}@example.com", "e"), "shoeSize": 9}
    answer = scim(gateway, scim_token, "POST", "/Users", body)
    assert answer.status_code == 400
    assert answer.json()["scimType"] == "invalidSyntax"
    bad = scim(gateway, scim_token, "GET", '/Users?filter=name co "x"')
    assert bad.status_code == 400
    assert bad.json()["scimType"] == "invalidFilter"
    junk = httpx.post(
        f"{gateway.url}/scim/v2/Users",
        content=b"{",
        headers={"authorization": f"Bearer {scim_token}"},
        timeout=30,
    )
    assert junk.status_code == 400
    assert len(gateway.runtime.state.live("user")) == before


def test_groups_become_teams_and_membership_changes_are_events(
    gateway: RunningGateway, scim_token: str
) -> None:
    a = scim(
        gateway,
        scim_token,
        "POST",
        "/Users",
        bodies.okta_create(f"a{uuid.uuid4().hex[:6]}@x.io", "a"),
    )
    b = scim(
        gateway,
        scim_token,
        "POST",
        "/Users",
        bodies.okta_create(f"b{uuid.uuid4().hex[:6]}@x.io", "b"),
    )
    ida, idb = a.json()["id"], b.json()["id"]
    group = scim(
        gateway,
        scim_token,
        "POST",
        "/Groups",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Research",
            "members": [{"value": ida}],
        },
    )
    assert group.status_code == 201, group.text
    team_id = group.json()["id"]
    assert gateway.runtime.state.get("team", team_id)["name"] == "Research"
    assert gateway.runtime.state.get("user", ida)["teams"] == [team_id]
    okta_add = {
        "schemas": [bodies.PATCH],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": idb}]}],
    }
    assert scim(gateway, scim_token, "PATCH", f"/Groups/{team_id}", okta_add).status_code == 200
    entra_remove = bodies.entra_patch(("Remove", "members", [{"value": ida}]))
    removed = scim(gateway, scim_token, "PATCH", f"/Groups/{team_id}", entra_remove)
    assert removed.status_code == 200, removed.text
    assert [m["value"] for m in removed.json()["members"]] == [idb]
    events = [e for _, e in gateway.runtime.store.iterate("governance", 0)]
    left = [e for e in events if isinstance(e, ev.UserLeftTeam) and e.entity_id == ida]
    assert [e.team_id for e in left] == [team_id]


def test_deprovisioning_stops_the_users_key_within_a_second(
    gateway: RunningGateway, scim_token: str, api: Api
) -> None:
    name = f"leaver.{uuid.uuid4().hex[:6]}@example.com"
    user_id = scim(gateway, scim_token, "POST", "/Users", bodies.okta_create(name, "l")).json()[
        "id"
    ]
    key = api.post(
        "/api/governance/virtual-keys",
        {
            "id": f"k-{uuid.uuid4().hex[:6]}",
            "name": "personal",
            "user_id": user_id,
            "provider_configs": [{"provider": "mock"}],
        },
    )
    assert key.status == 201, key.text
    sdk = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key.json["value"], max_retries=0)
    with sdk:
        sdk.chat.completions.create(model="m1", messages=[{"role": "user", "content": "hi"}])
        off = scim(gateway, scim_token, "PATCH", f"/Users/{user_id}", bodies.okta_deactivate())
        assert off.status_code == 200
        stopped_at = time.monotonic()
        with pytest.raises(openai.APIStatusError) as refused:
            sdk.chat.completions.create(model="m1", messages=[{"role": "user", "content": "hi"}])
        assert time.monotonic() - stopped_at < 1.0
    assert refused.value.status_code in (401, 403)
