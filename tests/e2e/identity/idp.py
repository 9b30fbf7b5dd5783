"""A real OpenID Connect provider for the tests (oidc-provider-mock, built on Authlib), and
what a test needs of it: users with claims, tokens from its flow, and hostile tokens signed
with its own key (to check every refusal against the real JWKS)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import flask
import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm

CLIENT_ID = "govledger-tests"


@dataclass
class IdentityProvider:
    """The provider at `issuer`, served by werkzeug in a thread."""

    issuer: str
    app: flask.Flask

    def set_user(self, sub: str, claims: dict[str, Any]) -> None:
        """Create or replace a user and the claims its tokens carry."""
        answer = httpx.put(f"{self.issuer}/users/{sub}", json=claims, timeout=10)
        assert answer.status_code == 204, answer.text

    def signing_key(self) -> tuple[Any, str]:
        """The provider's private key and its kid (read from its own storage)."""
        with self.app.test_request_context():
            self.app.preprocess_request()
            jwk = flask.g.oidc_provider_mock_storage.jwk.as_dict(is_private=True)
        return RSAAlgorithm.from_jwk(json.dumps(jwk)), str(jwk["kid"])

    def public_pem(self) -> bytes:
        """The provider's public key as PEM (what an HS256 confusion attack would use)."""
        key, _ = self.signing_key()
        return bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def mint(self, claims: dict[str, Any], **header: Any) -> str:
        """A token signed with the provider's key: defaults a valid one for `sub`."""
        key, kid = self.signing_key()
        now = int(time.time())
        body = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 600,
            **claims,
        }
        return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid, **header})

    def authorize(self, redirect_uri: str, query: dict[str, str], sub: str) -> str:
        """Sign `sub` in at the authorization endpoint; the redirect back (with the code)."""
        url = f"{self.issuer}/oauth2/authorize?{urlencode(query)}"
        answer = httpx.post(url, data={"sub": sub}, timeout=10)
        assert answer.status_code == 302, answer.text
        location = answer.headers["location"]
        assert location.startswith(redirect_uri), location
        return location

    def id_token(self, sub: str) -> str:
        """An ID token for `sub` through the provider's own code flow."""
        redirect = "http://127.0.0.1:9/callback"
        back = self.authorize(
            redirect,
            {
                "response_type": "code",
                "client_id": CLIENT_ID,
                "redirect_uri": redirect,
                "scope": "openid profile email",
                "state": secrets.token_urlsafe(8),
                "nonce": secrets.token_urlsafe(8),
            },
            sub,
        )
        code = parse_qs(urlsplit(back).query)["code"][0]
        answer = httpx.post(
            f"{self.issuer}/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect,
                "client_id": CLIENT_ID,
                "client_secret": "any",
            },
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["id_token"])


def hs256_with_public_key(provider: IdentityProvider, claims: dict[str, Any]) -> str:
    """An HS256 token whose HMAC key is the provider's public key (the confusion attack);
    PyJWT itself refuses to make one, so it is assembled here."""
    _, kid = provider.signing_key()
    now = int(time.time())
    body = {"iss": provider.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 600, **claims}

    def part(value: Any) -> str:
        raw = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{part(body)}"
    mac = hmac.new(provider.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


@contextmanager
def identity_provider() -> Iterator[IdentityProvider]:
    """Run the provider on a free port of localhost for the block."""
    from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread() as server:
        app = server.app
        assert isinstance(app, flask.Flask)
        yield IdentityProvider(f"http://localhost:{server.server_port}", app)
