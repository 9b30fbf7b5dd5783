"""An identity provider's tokens checked against its JWKS (PyJWT), after discovery.

Checks: the algorithm is on the provider's allow-list (never `none`, never HS*: a public key
is no shared secret), the signature against a JWKS key named by `kid`, `iss`, `aud`, `exp`,
`nbf` and `iat` with the provider's leeway. An unknown `kid` refreshes the JWKS once, at
most once per `REFRESH_EVERY_S` per provider. Blocking I/O: call it off the event loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from govledger.ledger.sso import IdentityProviderSpec

REFRESH_EVERY_S = 10.0
FETCH_TIMEOUT_S = 5.0
MAX_TOKEN_CHARS = 16 * 1024


class TokenRefused(ValueError):
    """A token is not accepted; `reason` is the machine code (never the token)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def looks_like_jwt(token: str) -> bool:
    """True for a compact JWS (three base64url parts), not an admin token or a key."""
    return token.count(".") == 2 and token.startswith("ey")


def unverified_issuer(token: str) -> str | None:
    """The `iss` a token claims, read without trusting it (to pick the provider)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    issuer = claims.get("iss")
    return issuer if isinstance(issuer, str) else None


@dataclass
class Provider:
    """One provider's discovery document and keys, fetched on first use and kept."""

    spec: IdentityProviderSpec
    clock: Callable[[], float] = time.monotonic
    metadata: dict[str, Any] | None = None
    keys: dict[str, Any] = field(default_factory=dict)  # kid -> PyJWK
    refreshed_at: float | None = None
    refreshes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def discover(self) -> dict[str, Any]:
        """The provider's `/.well-known/openid-configuration` (its issuer must match)."""
        if self.metadata is None:
            url = self.spec.issuer.rstrip("/") + "/.well-known/openid-configuration"
            try:
                answer = httpx.get(url, timeout=FETCH_TIMEOUT_S)
                answer.raise_for_status()
                found = answer.json()
            except (httpx.HTTPError, ValueError) as error:
                raise TokenRefused(
                    "provider_unreachable", f"discovery of {self.spec.name} failed: {error}"
                ) from None
            if not isinstance(found, dict) or found.get("issuer") != self.spec.issuer:
                raise TokenRefused(
                    "provider_misconfigured", f"{self.spec.name}: discovery names another issuer"
                )
            self.metadata = found
        return self.metadata

    def _refresh(self) -> None:
        now = self.clock()
        if self.refreshed_at is not None and now - self.refreshed_at < REFRESH_EVERY_S:
            return  # rate-limited: the last fetch is recent
        self.refreshed_at = now
        self.refreshes += 1
        try:
            answer = httpx.get(self.discover()["jwks_uri"], timeout=FETCH_TIMEOUT_S)
            answer.raise_for_status()
            keys = jwt.PyJWKSet.from_dict(answer.json())
        except (httpx.HTTPError, ValueError, KeyError, jwt.PyJWTError) as error:
            raise TokenRefused(
                "provider_unreachable", f"the JWKS of {self.spec.name} failed: {error}"
            ) from None
        self.keys = {k.key_id or "": k for k in keys.keys}

    def key(self, kid: str | None) -> Any:
        """The signing key named `kid`, refreshing the JWKS once if it is not known; a token
        without `kid` is accepted only while the JWKS holds exactly one key."""
        with self._lock:
            if not self.keys or (kid is not None and kid not in self.keys):
                self._refresh()
            if kid is None and len(self.keys) == 1:
                return next(iter(self.keys.values()))
            if kid is None:
                raise TokenRefused(
                    "unknown_kid", "the token names no key id and the JWKS has several"
                )
            if kid not in self.keys:
                raise TokenRefused("unknown_kid", "the token's key id is not in the JWKS")
            return self.keys[kid]

    def verify(self, token: str, nonce: str | None = None) -> dict[str, Any]:
        """The token's claims if every check passes, else TokenRefused with the reason."""
        if len(token) > MAX_TOKEN_CHARS:
            raise TokenRefused("token_malformed", "the token is too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRefused("token_malformed", "the token is not a JWT") from None
        alg = header.get("alg")
        if alg not in self.spec.algorithms:
            raise TokenRefused("algorithm_not_allowed", f"algorithm {alg!r} is not allowed")
        kid = header.get("kid")
        key = self.key(kid if isinstance(kid, str) and kid else None)
        audiences = [self.spec.client_id, *self.spec.audiences]
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=list(self.spec.algorithms),
                audience=audiences,
                issuer=self.spec.issuer,
                leeway=self.spec.leeway_s,
                options={"require": ["exp", "iat", "iss", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRefused("token_expired", "the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenRefused("token_not_yet_valid", "the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise TokenRefused("wrong_audience", "the token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise TokenRefused("wrong_issuer", "the token is from another issuer") from None
        except jwt.InvalidSignatureError:
            raise TokenRefused("bad_signature", "the token's signature does not verify") from None
        except jwt.MissingRequiredClaimError as error:
            raise TokenRefused("claim_missing", str(error)) from None
        except jwt.PyJWTError as error:
            raise TokenRefused("token_invalid", str(error)[:200]) from None
        if nonce is not None and claims.get("nonce") != nonce:
            raise TokenRefused("nonce_mismatch", "the ID token's nonce is not this login's")
        return claims


@dataclass
class Providers:
    """The configured providers by name, rebuilt when the settings' `sso` section changes."""

    specs: tuple[IdentityProviderSpec, ...] = ()
    by_name: dict[str, Provider] = field(default_factory=dict)

    def update(self, specs: tuple[IdentityProviderSpec, ...]) -> None:
        """Keep the providers whose spec is unchanged (and their keys); make the others."""
        if specs == self.specs:
            return
        kept = {p.spec.name: p for p in self.by_name.values()}
        self.by_name = {
            s.name: kept[s.name] if s.name in kept and kept[s.name].spec == s else Provider(s)
            for s in specs
        }
        self.specs = specs

    def for_issuer(self, issuer: str | None) -> Provider | None:
        """The provider whose issuer is `issuer`."""
        return next((p for p in self.by_name.values() if p.spec.issuer == issuer), None)
