"""Sign-in sessions as entities: start, end, and which live session a cookie's hash names.

A session is kind `session` (events `SessionStarted`, `SessionEnded`), so revoking one on any
instance ends it on every instance as the event arrives. Only the SHA-256 hash of the cookie's
secret is kept. These are pure decisions over the state and an instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from govledger.ledger import events as ev
from govledger.ledger.commands import Author, NotFoundError, check_absent, event
from govledger.ledger.entities import GovernanceState

KIND = "session"
METHODS = ("admin_token", "oidc")
END_REASONS = ("logout", "revoked", "deprovisioned", "credential_gone")


@dataclass(frozen=True)
class Subject:
    """Who a session signs in: `token:<name>` (an admin token) or `user:<id>`."""

    kind: str  # token | user
    name: str
    version: int  # the subject's stream version at sign-in: a re-issued token is another

    @property
    def actor(self) -> str:
        """How the ledger names the subject."""
        return f"{self.kind}:{self.name}"


def start_session(
    state: GovernanceState,
    session_id: str,
    secret_hash: str,
    subject: Subject,
    method: str,
    ttl: timedelta,
    author: Author,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> ev.EntityEvent:
    """The event of a new session of `subject`, ending at `now + ttl`."""
    check_absent(state, KIND, session_id)
    if method not in METHODS:
        raise ValueError(f"unknown sign-in method {method!r}")
    data = {
        "session_hash": secret_hash,
        "subject_kind": subject.kind,
        "subject": subject.name,
        "subject_version": subject.version,
        "method": method,
        "started_at": now.isoformat(),
        "expires_at": (now + ttl).isoformat(),
        **(detail or {}),
    }
    return event(state, KIND, "created", session_id, data, author, now)


def end_session(
    state: GovernanceState, session_id: str, reason: str, author: Author, now: datetime
) -> ev.EntityEvent:
    """The event that ends a live session (its last state plus `ended` and `ended_at`)."""
    data = state.get(KIND, session_id)
    if data is None:
        raise NotFoundError(f"no live session {session_id!r}")
    if reason not in END_REASONS:
        raise ValueError(f"unknown reason {reason!r}")
    after = {**data, "ended": reason, "ended_at": now.isoformat()}
    return event(state, KIND, "deleted", session_id, after, author, now)


def sessions_of(state: GovernanceState, subject_kind: str, name: str) -> list[str]:
    """The ids of the live sessions of one subject."""
    return sorted(
        session_id
        for session_id, data in state.live(KIND).items()
        if data["subject_kind"] == subject_kind and data["subject"] == name
    )


def live_session(
    state: GovernanceState, digest: str, now: datetime
) -> tuple[str, dict[str, Any]] | None:
    """The live, unexpired session whose cookie secret hashes to `digest`, else None."""
    session_id = state.session_by_hash.get(digest)
    if session_id is None:
        return None
    data = state.get(KIND, session_id)
    if data is None or data["session_hash"] != digest:
        return None
    if now >= datetime.fromisoformat(data["expires_at"]):
        return None
    return session_id, data


def subject_is_current(state: GovernanceState, data: dict[str, Any]) -> bool:
    """True while the session's subject still exists as it was at sign-in."""
    kind = {"token": "admin_token", "user": "user"}[data["subject_kind"]]
    if state.get(kind, data["subject"]) is None:
        return False
    if kind == "admin_token":  # a token re-issued under the same name is another token
        return bool(state.version(kind, data["subject"]) == data["subject_version"])
    return True
