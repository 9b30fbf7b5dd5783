"""The browser flow against a real OpenID Connect provider: code + PKCE, state, nonce."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import httpx

from govledger.ledger import events as ev
from tests.conftest import RunningGateway
from tests.e2e.identity.idp import IdentityProvider


def start_login(gateway: RunningGateway) -> tuple[httpx.Client, str, dict[str, str]]:
    """A browser that asked to sign in: the provider URL it was sent to, and its query."""
    browser = httpx.Client(base_url=gateway.url, timeout=30)
    answer = browser.get("/auth/login", params={"next": "/auth/me"})
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    return browser, location, query


def sign_in(gateway: RunningGateway, idp: IdentityProvider, sub: str) -> httpx.Response:
    """The whole flow for `sub`; the gateway's answer to the callback."""
    browser, _, query = start_login(gateway)
    back = idp.authorize(query["redirect_uri"], query, sub)
    answer = browser.get(back)
    browser.cookies.update(answer.cookies)
    answer.extensions["browser"] = browser
    return answer


def test_login_sends_the_browser_with_pkce_state_and_nonce(
    gateway: RunningGateway, idp: IdentityProvider
) -> None:
    _, location, query = start_login(gateway)
    assert location.startswith(f"{idp.issuer}/oauth2/authorize?")
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert query["state"] and query["nonce"]
    assert query["redirect_uri"] == f"{gateway.url}/auth/callback"
    assert query["scope"] == "openid profile email"


def test_a_user_in_several_groups_signs_in_with_the_highest_role(
    gateway: RunningGateway, idp: IdentityProvider
) -> None:
    sub = f"alice-{uuid.uuid4().hex[:6]}"
    idp.set_user(
        sub,
        {
            "email": f"{sub}@example.com",
            "name": "Alice",
            "preferred_username": sub,
            "groups": ["gl-viewers", "gl-admins", "gl-devs", "platform-eng", "ml-eng"],
        },
    )
    answer = sign_in(gateway, idp, sub)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/auth/me"
    browser: httpx.Client = answer.extensions["browser"]
    me = browser.get("/auth/me").json()
    assert me["actor"] == f"user:{sub}"
    assert me["role"] == "Admin"
    assert me["display_name"] == "Alice"  # the UI shows it beside the actor
    assert me["session"]["method"] == "oidc"
    user = gateway.runtime.state.get("user", sub)
    assert user["personal"] == {
        "user_name": sub,
        "email": f"{sub}@example.com",
        "display_name": "Alice",
        "given_name": "",
        "family_name": "",
    }
    assert user["teams"] == ["ml", "platform"]  # ml created by the mapping
    assert gateway.runtime.state.get("team", "ml") is not None
    assert browser.get("/api/governance/teams").status_code == 200
    events = [e for _, e in gateway.runtime.store.iterate("governance", 0)]
    joined = [e for e in events if isinstance(e, ev.UserJoinedTeam) and e.entity_id == sub]
    assert sorted(e.team_id for e in joined) == ["ml", "platform"]
    assert all(e.source == "sso" for e in joined)


def test_a_user_in_no_mapped_group_is_refused_naming_why(
    gateway: RunningGateway, idp: IdentityProvider
) -> None:
    sub = f"bob-{uuid.uuid4().hex[:6]}"
    idp.set_user(sub, {"email": f"{sub}@example.com", "groups": ["sales"]})
    answer = sign_in(gateway, idp, sub)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "no_mapped_group"
    assert "govledger_session" not in answer.cookies
    assert gateway.runtime.state.get("user", sub) is None


def test_a_replayed_state_is_refused_and_recorded(
    gateway: RunningGateway, idp: IdentityProvider
) -> None:
    sub = f"carol-{uuid.uuid4().hex[:6]}"
    idp.set_user(sub, {"email": f"{sub}@example.com", "groups": ["gl-viewers"]})
    browser, _, query = start_login(gateway)
    login_cookie = browser.cookies.get("govledger_login") or ""
    back = idp.authorize(query["redirect_uri"], query, sub)
    assert browser.get(back).status_code == 303
    replay = httpx.Client(
        base_url=gateway.url, timeout=30, cookies={"govledger_login": login_cookie}
    )
    again = replay.get(back)
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "state_replayed"
    events = [e for _, e in gateway.runtime.store.iterate("governance", 0)]
    assert any(isinstance(e, ev.LoginFailed) and e.reason == "state_replayed" for e in events)


def test_a_callback_with_another_state_or_no_login_is_refused(
    gateway: RunningGateway, idp: IdentityProvider
) -> None:
    browser, _, query = start_login(gateway)
    wrong = browser.get("/auth/callback", params={"code": "x", "state": "forged"})
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == "state_mismatch"
    bare = httpx.get(f"{gateway.url}/auth/callback?code=x&state={query['state']}")
    assert bare.status_code == 400
    assert bare.json()["error"]["code"] == "login_state_missing"


def test_next_never_leaves_the_gateway(gateway: RunningGateway) -> None:
    from govledger.proxy.identity.oidc_routes import safe_next

    assert safe_next("//evil.example/x") == "/auth/me"
    assert safe_next("https://evil.example") == "/auth/me"
    assert safe_next("/ui/teams") == "/ui/teams"
