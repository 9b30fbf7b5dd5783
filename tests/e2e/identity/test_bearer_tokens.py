"""Identity-provider tokens on the management API: each check, each hostile token refused
in the API's shape with a LoginFailed event, and nothing else changed."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from govledger.ledger import events as ev
from tests.conftest import RunningGateway
from tests.e2e.identity.idp import IdentityProvider, hs256_with_public_key


def call(gateway: RunningGateway, token: str, method: str = "GET") -> httpx.Response:
    return httpx.request(
        method,
        f"{gateway.url}/api/governance/teams",
        headers={"authorization": f"Bearer {token}"},
        json={"id": f"t-{uuid.uuid4().hex[:6]}", "name": "T"} if method == "POST" else None,
        timeout=30,
    )


def events_of(gateway: RunningGateway) -> list[Any]:
    return [e for _, e in gateway.runtime.store.iterate("governance", 0)]


def test_an_id_token_from_the_provider_works_as_bearer(
    gateway: RunningGateway, idp: IdentityProvider
) -> None:
    sub = f"dev-{uuid.uuid4().hex[:6]}"
    idp.set_user(sub, {"email": f"{sub}@example.com", "groups": ["gl-devs"]})
    token = idp.id_token(sub)
    assert call(gateway, token).status_code == 200
    made = call(gateway, token, "POST")
    assert made.status_code == 201, made.text
    created = [e for e in events_of(gateway) if isinstance(e, ev.TeamCreated)]
    assert created[-1].actor == f"user:{sub}"


def test_a_viewer_token_is_refused_a_change_with_the_permission_named(
    gateway: RunningGateway, idp: IdentityProvider
) -> None:
    token = idp.mint({"sub": f"v-{uuid.uuid4().hex[:6]}", "groups": ["gl-viewers"]})
    answer = call(gateway, token, "POST")
    assert answer.status_code == 403
    assert answer.json()["error"]["permission"] == "teams:create"


def _hostile(idp: IdentityProvider, kind: str) -> str:
    sub = {"sub": f"h-{uuid.uuid4().hex[:6]}", "groups": ["gl-admins"]}
    if kind == "expired":
        return idp.mint({**sub, "iat": 1_000_000, "exp": 1_000_600})
    if kind == "not_yet_valid":
        return idp.mint({**sub, "nbf": 4_000_000_000})
    if kind == "wrong_audience":
        return idp.mint({**sub, "aud": "someone-else"})
    if kind == "wrong_issuer":
        return idp.mint({**sub, "iss": "https://evil.example"})
    if kind == "alg_none":
        return jwt.encode(
            {**sub, "iss": idp.issuer, "aud": "x"},
            None,  # type: ignore[arg-type]
            algorithm="none",
        )
    if kind == "hs256_public_key":
        return hs256_with_public_key(idp, sub)
    if kind == "tampered":
        head, body, sig = idp.mint(sub).split(".")
        flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
        return f"{head}.{body}.{flipped}"
    if kind == "unknown_kid":
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return jwt.encode(
            {**sub, "iss": idp.issuer, "aud": "govledger-tests", "iat": 1, "exp": 4_000_000_000},
            other,
            algorithm="RS256",
            headers={"kid": "not-in-the-jwks"},
        )
    if kind == "no_groups":
        return idp.mint({"sub": sub["sub"]})
    if kind == "overage":
        return idp.mint(
            {"sub": sub["sub"], "_claim_names": {"groups": "src1"}, "_claim_sources": {}}
        )
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("expired", 401, "token_expired"),
        ("not_yet_valid", 401, "token_not_yet_valid"),
        ("wrong_audience", 401, "wrong_audience"),
        ("wrong_issuer", 401, "wrong_issuer"),
        ("alg_none", 401, "algorithm_not_allowed"),
        ("hs256_public_key", 401, "algorithm_not_allowed"),
        ("tampered", 401, "bad_signature"),
        ("unknown_kid", 401, "unknown_kid"),
        ("no_groups", 403, "groups_claim_missing"),
        ("overage", 403, "groups_overage"),
    ],
)
def test_a_hostile_token_is_refused_recorded_and_changes_nothing(
    gateway: RunningGateway, idp: IdentityProvider, kind: str, status: int, code: str
) -> None:
    token = _hostile(idp, kind)
    before = [e for e in events_of(gateway) if not isinstance(e, ev.LoginFailed)]
    answer = call(gateway, token, "POST")
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code
    after = events_of(gateway)
    assert [e for e in after if not isinstance(e, ev.LoginFailed)] == before
    failed = [e for e in after if isinstance(e, ev.LoginFailed)]
    assert failed[-1].reason == code
    assert all(token not in repr(e) for e in after)


def test_an_unknown_kid_refreshes_the_jwks_once_then_is_rate_limited(
    gateway: RunningGateway, idp: IdentityProvider
) -> None:
    providers = gateway.app.state.identity_providers
    provider = providers.by_name["mock"]
    call(gateway, idp.mint({"sub": "warm", "groups": ["gl-viewers"]}))  # keys fetched
    before = provider.refreshes
    for _ in range(5):
        assert call(gateway, _hostile(idp, "unknown_kid")).status_code == 401
    assert provider.refreshes - before <= 1


def test_a_flood_of_bad_tokens_records_a_bounded_number_of_events(
    gateway: RunningGateway, idp: IdentityProvider
) -> None:
    token = _hostile(idp, "tampered")
    before = sum(isinstance(e, ev.LoginFailed) for e in events_of(gateway))
    for _ in range(60):
        assert call(gateway, token).status_code == 401
    recorded = sum(isinstance(e, ev.LoginFailed) for e in events_of(gateway)) - before
    assert recorded <= 20  # the throttle's rate per kind and minute
