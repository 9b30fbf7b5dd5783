"""The process settings: one frozen value read from the environment once, at start."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from govledger.ledger.store import DEFAULT_URL

N = TypeVar("N", int, float)


class SettingsError(ValueError):
    """An environment variable holds a value the gateway cannot use (names it)."""


def _number(env: Mapping[str, str], name: str, default: N, kind: Callable[[str], N]) -> N:
    """A positive (or zero) number from the environment, or a SettingsError naming it."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw.strip())
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise SettingsError(f"{name}: expected {noun}, got {raw!r}") from None
    if value < 0 or value != value:  # negative, or NaN
        raise SettingsError(f"{name}: expected a number >= 0, got {raw!r}")
    return value


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    """A number of seconds above zero from the environment, or a SettingsError naming it."""
    value = _number(env, name, default, float)
    if value <= 0:
        raise SettingsError(f"{name}: expected a number > 0, got {env.get(name)!r}")
    return value


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    raw = env.get(name, default).strip().lower() or default
    if raw not in allowed:
        raise SettingsError(f"{name}: expected one of {', '.join(allowed)}, got {raw!r}")
    return raw


@dataclass(frozen=True)
class Settings:
    """Process settings, read from the environment by `from_env` (never at import)."""

    database_url: str = DEFAULT_URL
    instance: str = "govledger"
    max_body_bytes: int = 4 * 1024 * 1024
    upstream_timeout_s: float = 120.0
    abandon_after_s: float = 3600.0
    secret_key_file: Path = Path("data/secret.key")
    mock_upstream_port: int | None = None
    admin_token: str | None = field(default=None, repr=False)  # bootstraps the first Admin
    metrics_key_budgets: int = 0  # key-level budgets in /metrics, at most this many
    settle_timeout_s: float = 2.0  # a settlement not committed by then answers 503, kept
    stall_after_s: float = 3.0  # a commit waiting longer means the store is down
    spool_dir: Path | None = None  # events the store cannot take yet; default beside the key

    @property
    def spool_path(self) -> Path:
        """The spool file of this instance."""
        folder = self.spool_dir or self.secret_key_file.parent / "spool"
        return folder / f"{self.instance}.usage.jsonl"

    header_read_timeout_s: float = 10.0  # a request's headers must arrive within this
    body_read_timeout_s: float = 30.0  # and then its body within this
    management_max_body_bytes: int = 1024 * 1024  # the largest body /api accepts
    retain_requests: str | None = None  # request log rows older than this go (e.g. 400d)
    retain_headers: str | None = None  # recorded header values older than this go (e.g. 30d)
    retain_deliveries: str | None = None  # exporter delivery records older than this go
    secret_ttl_s: float = 300.0  # how often a referenced secret is fetched again (default)
    allotments: str = "auto"  # leased allotments of strict budgets: auto (on PostgreSQL), off, on
    lease_s: float = 5.0  # a member unseen this long is dead; its allotments expire
    allotment_timeout_s: float = 1.0  # the most one store call of the books or heartbeat takes
    session_ttl_s: float = 8 * 3600.0  # a sign-in session's life (docs/identity.md)

    @property
    def leasing(self) -> bool:
        """True if strict budgets are admitted against leased allotments (several instances)."""
        if self.allotments == "auto":
            return self.database_url.split(":", 1)[0] in ("postgres", "postgresql")
        return self.allotments == "on"

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Settings from GOVLEDGER_* variables, with explicit overrides on top."""
        env = os.environ
        values: dict[str, Any] = {
            "database_url": env.get("GOVLEDGER_DATABASE_URL", DEFAULT_URL),
            "instance": env.get("GOVLEDGER_INSTANCE", socket.gethostname()),
            "max_body_bytes": _number(env, "GOVLEDGER_MAX_BODY_BYTES", 4 * 1024 * 1024, int),
            "upstream_timeout_s": _number(env, "GOVLEDGER_UPSTREAM_TIMEOUT", 120.0, float),
            "secret_key_file": Path(env.get("GOVLEDGER_SECRET_KEY_FILE", "data/secret.key")),
            "admin_token": env.get("GOVLEDGER_ADMIN_TOKEN") or None,
            "metrics_key_budgets": _number(env, "GOVLEDGER_METRICS_KEY_BUDGETS", 0, int),
            "settle_timeout_s": _number(env, "GOVLEDGER_SETTLE_TIMEOUT", 2.0, float),
            "stall_after_s": _number(env, "GOVLEDGER_STALL_AFTER", 3.0, float),
            "spool_dir": Path(env["GOVLEDGER_SPOOL_DIR"])
            if env.get("GOVLEDGER_SPOOL_DIR")
            else None,
            "header_read_timeout_s": _number(env, "GOVLEDGER_HEADER_READ_TIMEOUT", 10.0, float),
            "body_read_timeout_s": _number(env, "GOVLEDGER_BODY_READ_TIMEOUT", 30.0, float),
            "management_max_body_bytes": _number(
                env, "GOVLEDGER_MANAGEMENT_MAX_BODY_BYTES", 1024 * 1024, int
            ),
            "retain_requests": env.get("GOVLEDGER_RETAIN_REQUESTS") or None,
            "retain_headers": env.get("GOVLEDGER_RETAIN_HEADERS") or None,
            "retain_deliveries": env.get("GOVLEDGER_RETAIN_DELIVERIES") or None,
            "secret_ttl_s": _number(env, "GOVLEDGER_SECRET_TTL", 300.0, float),
            "allotments": _choice(env, "GOVLEDGER_ALLOTMENTS", ("off", "auto", "on"), "auto"),
            "lease_s": _number(env, "GOVLEDGER_LEASE", 5.0, float),
            "allotment_timeout_s": _positive(env, "GOVLEDGER_ALLOTMENT_TIMEOUT", 1.0),
            "session_ttl_s": _number(env, "GOVLEDGER_SESSION_TTL", 8 * 3600.0, float),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
