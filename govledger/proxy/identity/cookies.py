"""The session cookie: a random secret signed with a key derived from the master key.

The cookie is `gls-<secret>.<signature>` (HttpOnly, SameSite=Lax, Secure over TLS); the
ledger keeps only the secret's SHA-256 hash. The CSRF token is an HMAC of the session id:
a state-changing call made with the cookie must send it in `x-csrf-token` (it is also set
as the readable cookie `govledger_csrf`, the double-submit pattern).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

COOKIE_PURPOSE = "session-cookie"  # the label of the key derived from the master key
SESSION_COOKIE = "govledger_session"
CSRF_COOKIE = "govledger_csrf"
CSRF_HEADER = "x-csrf-token"
SECRET_PREFIX = "gls-"
MAX_COOKIE_CHARS = 256  # anything longer is not ours: refused unread
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class CookieSigner:
    """Signs session secrets and derives CSRF tokens with one key."""

    key: bytes

    def _mac(self, label: str, value: str) -> str:
        return _b64(hmac.new(self.key, f"{label}:{value}".encode(), hashlib.sha256).digest())

    def new_cookie(self) -> tuple[str, str]:
        """A fresh (cookie value, secret): the secret is what the ledger hashes."""
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        return f"{secret}.{self._mac('session', secret)}", secret

    def secret_of(self, cookie: str) -> str | None:
        """The secret of a cookie this key signed, else None (forged, tampered, foreign)."""
        if len(cookie) > MAX_COOKIE_CHARS or not cookie.startswith(SECRET_PREFIX):
            return None
        secret, _, signature = cookie.rpartition(".")
        if not secret or not hmac.compare_digest(signature, self._mac("session", secret)):
            return None
        return secret

    def csrf_token(self, session_id: str) -> str:
        """The CSRF token bound to one session."""
        return self._mac("csrf", session_id)

    def csrf_ok(self, session_id: str, sent: str | None) -> bool:
        """True if `sent` is the session's CSRF token."""
        return sent is not None and hmac.compare_digest(sent, self.csrf_token(session_id))


def set_session_cookies(
    response: Response, request: Request, cookie: str, csrf: str, expires: datetime
) -> None:
    """Set the session cookie (HttpOnly) and the CSRF cookie (readable by the page)."""
    secure = request.url.scheme == "https"
    for name, value, http_only in ((SESSION_COOKIE, cookie, True), (CSRF_COOKIE, csrf, False)):
        response.set_cookie(
            name,
            value,
            expires=expires,
            path="/",
            secure=secure,
            httponly=http_only,
            samesite="lax",
        )


def clear_session_cookies(response: Response, request: Request) -> None:
    """Expire both cookies in the browser."""
    secure = request.url.scheme == "https"
    for name, http_only in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
        response.delete_cookie(name, path="/", secure=secure, httponly=http_only, samesite="lax")
