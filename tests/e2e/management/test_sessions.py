"""Sign-in sessions: an admin token exchanged for a signed cookie, CSRF, logout, revocation."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from govledger.ledger import events as ev
from tests.conftest import RunningGateway
from tests.e2e.management.support import ADMIN, Api


def signed_in(gateway: RunningGateway, token: str = ADMIN) -> tuple[httpx.Client, str]:
    """A browser-like client holding a session cookie, and the session's CSRF token."""
    client = httpx.Client(base_url=gateway.url, timeout=30)
    answer = client.post("/auth/token", json={"token": token})
    assert answer.status_code == 200, answer.text
    return client, answer.json()["session"]["csrf_token"]


def governance_events(gateway: RunningGateway) -> list[Any]:
    store = gateway.runtime.store
    return [event for _, event in store.iterate("governance", 0)]


def test_an_admin_token_signs_in_with_an_httponly_lax_cookie(gateway: RunningGateway) -> None:
    client = httpx.Client(base_url=gateway.url, timeout=30)
    answer = client.post("/auth/token", json={"token": ADMIN})
    assert answer.status_code == 200, answer.text
    cookies = answer.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("govledger_session="))
    assert "HttpOnly" in session
    assert "samesite=lax" in session.lower()
    assert "Secure" not in session  # plain HTTP here; over TLS the cookie is Secure
    assert ADMIN not in " ".join(cookies)
    me = client.get("/auth/me").json()
    assert me["actor"] == "token:bootstrap"
    assert me["role"] == "Admin"
    assert me["session"]["id"] == answer.json()["session"]["id"]
    assert client.get("/api/governance/teams").status_code == 200


def test_the_token_may_come_in_the_authorization_header(gateway: RunningGateway) -> None:
    client = httpx.Client(base_url=gateway.url, timeout=30)
    answer = client.post("/auth/token", headers={"authorization": f"Bearer {ADMIN}"})
    assert answer.status_code == 200, answer.text
    client.headers.pop("authorization", None)
    assert client.get("/auth/me").json()["session"] is not None


def test_a_cookie_call_that_changes_state_needs_the_csrf_token(gateway: RunningGateway) -> None:
    client, csrf = signed_in(gateway)
    team = f"t-{uuid.uuid4().hex[:8]}"
    refused = client.post("/api/governance/teams", json={"id": team, "name": "T"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_token_invalid"
    wrong = client.post(
        "/api/governance/teams", json={"id": team, "name": "T"}, headers={"x-csrf-token": "x"}
    )
    assert wrong.status_code == 403
    assert gateway.runtime.state.get("team", team) is None
    made = client.post(
        "/api/governance/teams", json={"id": team, "name": "T"}, headers={"x-csrf-token": csrf}
    )
    assert made.status_code == 201, made.text
    changed = [e for e in governance_events(gateway) if getattr(e, "entity_id", "") == team]
    assert changed[0].actor == "token:bootstrap"


def test_logout_ends_the_session_with_an_event(gateway: RunningGateway) -> None:
    client, csrf = signed_in(gateway)
    session_id = client.get("/auth/me").json()["session"]["id"]
    kept = client.cookies.get("govledger_session") or ""
    assert client.post("/auth/logout", headers={"x-csrf-token": csrf}).status_code == 204
    again = httpx.Client(base_url=gateway.url, timeout=30, cookies={"govledger_session": kept})
    answer = again.get("/api/governance/teams")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "session_not_recognised"
    ended = [
        e
        for e in governance_events(gateway)
        if isinstance(e, ev.SessionEnded) and e.entity_id == session_id
    ]
    assert [e.data["ended"] for e in ended] == ["logout"]


def test_logout_needs_the_csrf_token_but_clears_a_dead_cookie(gateway: RunningGateway) -> None:
    client, _ = signed_in(gateway)
    assert client.post("/auth/logout").status_code == 403
    dead = httpx.Client(base_url=gateway.url, timeout=30, cookies={"govledger_session": "x"})
    assert dead.post("/auth/logout").status_code == 204


def test_a_wrong_admin_token_is_refused_and_recorded_without_it(gateway: RunningGateway) -> None:
    wrong = "gl-admin-" + uuid.uuid4().hex
    answer = httpx.post(f"{gateway.url}/auth/token", json={"token": wrong}, timeout=30)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "admin_token_not_recognised"
    assert "set-cookie" not in answer.headers
    failures = [e for e in governance_events(gateway) if isinstance(e, ev.LoginFailed)]
    assert any(e.reason == "admin_token_not_recognised" for e in failures)
    assert all(wrong not in repr(e) for e in governance_events(gateway))


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"{", 422), (b'{"token": 5}', 422), (b'{"token": "a", "x": 1}', 422), (b"[]", 422)],
)
def test_a_bad_sign_in_body_is_a_clear_refusal(
    gateway: RunningGateway, body: bytes, status: int
) -> None:
    answer = httpx.post(
        f"{gateway.url}/auth/token",
        content=body,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == "invalid_request"


def test_a_huge_sign_in_body_is_refused(gateway: RunningGateway) -> None:
    answer = httpx.post(f"{gateway.url}/auth/token", content=b"x" * 100_000, timeout=30)
    assert answer.status_code == 413


def test_a_forged_or_tampered_cookie_is_refused(gateway: RunningGateway) -> None:
    client, _ = signed_in(gateway)
    real = client.cookies.get("govledger_session") or ""
    for cookie in ("gls-forged.sig", real[:-2] + ("AA" if real[-2:] != "AA" else "BB"), "x" * 5000):
        answer = httpx.get(
            f"{gateway.url}/api/governance/teams", cookies={"govledger_session": cookie}
        )
        assert answer.status_code == 401, cookie
        assert answer.json()["error"]["code"] == "session_not_recognised"


def test_a_revoked_session_or_token_stops_the_cookie(gateway: RunningGateway, api: Api) -> None:
    name = f"ops-{uuid.uuid4().hex[:8]}"
    issued = api.post("/api/admin-tokens", {"name": name, "role": "Viewer"})
    assert issued.status == 201, issued.text
    client, _ = signed_in(gateway, issued.json["token"])
    assert client.get("/api/governance/teams").status_code == 200
    assert client.post("/api/governance/teams", json={}).status_code == 403  # csrf first
    session_id = client.get("/auth/me").json()["session"]["id"]
    listed = api.get("/api/sessions?limit=1000").json["data"]
    assert any(s["id"] == session_id and "session_hash" not in s for s in listed)
    assert api.delete(f"/api/sessions/{session_id}").status == 204
    assert client.get("/api/governance/teams").status_code == 401
    client, _ = signed_in(gateway, issued.json["token"])
    assert api.delete(f"/api/admin-tokens/{name}").status == 204
    assert client.get("/api/governance/teams").status_code == 401


def test_a_session_expires_after_its_ttl(gateway: RunningGateway) -> None:
    client, _ = signed_in(gateway)
    assert client.get("/api/governance/teams").status_code == 200
    gateway.runtime.clock.advance(gateway.runtime.settings.session_ttl_s + 1)
    answer = client.get("/api/governance/teams")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "session_not_recognised"
