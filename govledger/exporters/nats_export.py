"""NATS JetStream fan-out: every event of a log published once, deduplicated by its id.

A tracked consumer per log (governance, usage). Each batch is rendered as the SIEM's ECS
JSON records (secrets redacted, sealed personal data stays sealed), published to
`<prefix>.<app>.<EventType>` with `Nats-Msg-Id` = the event id, and the position commits
only after JetStream acknowledged every message of the batch (PubAck). A crash between
the acks and the commit publishes the batch again; JetStream's duplicate window drops it.
An event that cannot be rendered is published as its degraded record (`event.unrenderable`)
and counted, so a poison event never stops the export.

Configured by the environment, like the other exporters:
  GOVLEDGER_NATS_URL        nats://host:4222 (a secret reference such as env.NAME is allowed)
  GOVLEDGER_NATS_TOKEN      optional auth token (a secret reference allowed)
  GOVLEDGER_NATS_PREFIX     subject prefix, default `govledger`
  GOVLEDGER_NATS_STREAM     stream name, default `GOVLEDGER`; created if missing
  GOVLEDGER_NATS_RETENTION  limits | interest | workqueue (for a stream created here)
  GOVLEDGER_NATS_MAX_AGE_S  max age of a created stream's messages, 0 = unlimited
  GOVLEDGER_NATS_IN_FLIGHT  publishes awaiting their ack at once, default 256
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from eventsourcing.persistence import Notification

from govledger.exporters.consumer import Decode
from govledger.exporters.siem_formats import decoded, line_of
from govledger.ledger.secrets.live import Secret, current, secret_setting
from govledger.projections.database import Cursor, OnRebuild, ViewDatabase

TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # one subject token / a stream name
RETENTIONS = ("limits", "interest", "workqueue")
SCHEMA = [
    """CREATE TABLE IF NOT EXISTS gl_nats_export (
        app TEXT PRIMARY KEY, published BIGINT NOT NULL, duplicates BIGINT NOT NULL,
        unrenderable BIGINT NOT NULL)""",
]
SCHEMES = ("nats", "tls")


class NatsConfigError(ValueError):
    """A setting of the NATS exporter is unusable (the message names it)."""


class NatsPublishError(RuntimeError):
    """A batch was not acknowledged in full (the caller keeps its position and retries)."""


@dataclass(frozen=True)
class NatsSettings:
    """The exporter's settings, validated."""

    url: Secret
    token: Secret | None = None
    prefix: str = "govledger"
    stream: str = "GOVLEDGER"
    retention: str = "limits"
    max_age_s: float = 0.0
    in_flight: int = 256
    duplicate_window_s: float = 120.0

    def __post_init__(self) -> None:
        for part in self.prefix.split("."):
            if not TOKEN.match(part):
                raise NatsConfigError(
                    "GOVLEDGER_NATS_PREFIX: dot-separated tokens of letters, digits, _ or -"
                )
        if not TOKEN.match(self.stream):
            raise NatsConfigError("GOVLEDGER_NATS_STREAM: 1-64 letters, digits, _ or -")
        if self.retention not in RETENTIONS:
            raise NatsConfigError(f"GOVLEDGER_NATS_RETENTION: one of {', '.join(RETENTIONS)}")
        if not 1 <= self.in_flight <= 10_000:
            raise NatsConfigError("GOVLEDGER_NATS_IN_FLIGHT: between 1 and 10000")
        if self.max_age_s < 0:
            raise NatsConfigError("GOVLEDGER_NATS_MAX_AGE_S: zero or more seconds")


def create_tables(db: ViewDatabase) -> None:
    """Create the counters' table if it is missing."""
    with db.transaction() as cur:
        for statement in SCHEMA:
            cur.execute(statement)


def count_batch(cur: Cursor, app: str, published: int, duplicates: int, unrenderable: int) -> None:
    """Add one acknowledged batch to the log's counters, in the batch's own transaction."""
    cur.execute(
        "INSERT INTO gl_nats_export (app, published, duplicates, unrenderable) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (app) DO UPDATE SET "
        "published = gl_nats_export.published + excluded.published, "
        "duplicates = gl_nats_export.duplicates + excluded.duplicates, "
        "unrenderable = gl_nats_export.unrenderable + excluded.unrenderable",
        (app, published, duplicates, unrenderable),
    )


def counted(cur: Cursor) -> list[tuple[str, int, int, int]]:
    """Every log's (app, published, duplicates, unrenderable), as committed."""
    cur.execute("SELECT app, published, duplicates, unrenderable FROM gl_nats_export ORDER BY app")
    return [(str(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in cur.fetchall()]


def nats_configured(environ: Mapping[str, str]) -> bool:
    """Whether the environment asks for the NATS fan-out."""
    return bool(environ.get("GOVLEDGER_NATS_URL"))


def settings_from_env(environ: Mapping[str, str]) -> NatsSettings:
    """The settings from GOVLEDGER_NATS_*; NatsConfigError names a bad one (never its value)."""
    url = secret_setting(environ, "GOVLEDGER_NATS_URL")
    check_url(current(url))
    token = (
        secret_setting(environ, "GOVLEDGER_NATS_TOKEN")
        if "GOVLEDGER_NATS_TOKEN" in environ
        else None
    )
    return NatsSettings(
        url=url,
        token=token,
        prefix=environ.get("GOVLEDGER_NATS_PREFIX", "govledger"),
        stream=environ.get("GOVLEDGER_NATS_STREAM", "GOVLEDGER"),
        retention=environ.get("GOVLEDGER_NATS_RETENTION", "limits"),
        max_age_s=number(environ, "GOVLEDGER_NATS_MAX_AGE_S", 0.0),
        in_flight=int(number(environ, "GOVLEDGER_NATS_IN_FLIGHT", 256)),
    )


def check_url(url: str) -> None:
    """Raise NatsConfigError unless `url` is nats:// or tls:// with a host (value not echoed)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise NatsConfigError("GOVLEDGER_NATS_URL: not a URL") from None
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise NatsConfigError("GOVLEDGER_NATS_URL: use nats://host:port or tls://host:port")
    if port is not None and not 0 < port < 65536:
        raise NatsConfigError("GOVLEDGER_NATS_URL: port out of range")


def number(environ: Mapping[str, str], name: str, default: float) -> float:
    """A numeric setting, or NatsConfigError naming it."""
    text = environ.get(name)
    if text is None or text == "":
        return default
    try:
        return float(text)
    except ValueError:
        raise NatsConfigError(f"{name}: not a number") from None


def subject_of(prefix: str, app: str, note: Notification) -> str:
    """`<prefix>.<app>.<EventType>`, the type from the stored topic, made a safe token."""
    kind = str(getattr(note, "topic", "")).rpartition(":")[2].rpartition(".")[2]
    kind = re.sub(r"[^A-Za-z0-9_-]", "_", kind)[:64] or "Unknown"
    return f"{prefix}.{app}.{kind}"


class NatsExport:
    """A tracked consumer that publishes each batch to JetStream before its position commits."""

    def __init__(
        self,
        app: str,
        settings: NatsSettings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = "nats_export"
        self.app = app
        self.on_rebuild: OnRebuild = "keep"  # delivery: a rebuild never publishes again
        self.tables: tuple[str, ...] = ("gl_nats_export",)
        self.settings = settings
        self.clock = clock
        self.published = 0
        self.duplicates = 0  # re-sends JetStream dropped (PubAck.duplicate)
        self.unrenderable = 0
        self.errors = 0
        self.last_error = ""
        self.last_position = 0
        self._loop = asyncio.new_event_loop()
        self._nc: Any = None
        self._js: Any = None
        self._failures = 0
        self._retry_at = 0.0
        self._table_made = False

    def status(self) -> dict[str, Any]:
        """Counters for the status endpoint / logs."""
        return {
            "app": self.app,
            "published": self.published,
            "duplicates": self.duplicates,
            "unrenderable": self.unrenderable,
            "errors": self.errors,
            "last_error": self.last_error,
            "position": self.last_position,
        }

    def process(self, cur: Cursor, notes: Sequence[Notification], decode: Decode) -> None:
        """Render and publish the batch; returns once every message is acked, else raises."""
        messages = []
        degraded = 0
        for note in notes:
            event = decoded(note, decode)
            msg_id, record = line_of(self.app, note, event, "ecs")
            degraded += '"event.unrenderable"' in record
            messages.append((subject_of(self.settings.prefix, self.app, note), msg_id, record))
        now = self.clock()
        if now < self._retry_at:
            raise NatsPublishError(f"nats: backing off after {self._failures} failures")
        try:
            fresh, again = self._loop.run_until_complete(self._publish(messages))
        except Exception as error:
            self.errors += 1
            self._failures += 1
            self._retry_at = now + min(30.0, 0.5 * 2 ** min(self._failures, 6))
            first = str(error).splitlines()[0][:160] if str(error) else ""
            self.last_error = f"{type(error).__name__}: {first}"
            self._loop.run_until_complete(self._drop())
            raise NatsPublishError(f"nats: {self.last_error}") from None
        self._failures = 0
        self.published += fresh
        self.duplicates += again
        self.unrenderable += degraded
        if not self._table_made:  # the server makes it; a consumer run alone makes its own
            for statement in SCHEMA:
                cur.execute(statement)
            self._table_made = True
        count_batch(cur, self.app, fresh, again, degraded)  # committed with the position
        self.last_position = notes[-1].id if notes else self.last_position

    async def _publish(self, messages: list[tuple[str, str, str]]) -> tuple[int, int]:
        """Publish every message, at most `in_flight` at once: (stored, dropped as duplicates)."""
        js = await self._jetstream()
        window = asyncio.Semaphore(self.settings.in_flight)

        async def one(subject: str, msg_id: str, record: str) -> Any:
            async with window:
                return await js.publish(
                    subject,
                    record.encode(),
                    timeout=10.0,
                    stream=self.settings.stream,
                    headers={"Nats-Msg-Id": msg_id},
                )

        acks = await asyncio.gather(*(one(*m) for m in messages))
        again = sum(1 for a in acks if a.duplicate)
        return len(acks) - again, again

    async def _jetstream(self) -> Any:
        if self._js is not None and self._nc is not None and self._nc.is_connected:
            return self._js
        await self._drop()
        import nats  # the optional extra govledger[nats]
        from nats.js.api import RetentionPolicy, StreamConfig
        from nats.js.errors import NotFoundError

        options: dict[str, Any] = {
            "servers": [current(self.settings.url)],
            "connect_timeout": 2,
            "allow_reconnect": False,  # the consumer's own backoff reconnects
            "max_reconnect_attempts": 0,
        }
        if self.settings.token is not None:
            options["token"] = current(self.settings.token)

        async def quiet(_error: Exception) -> None:  # nats-py logs nothing then
            return None

        nc = await nats.connect(error_cb=quiet, **options)
        js = nc.jetstream()
        try:
            await js.stream_info(self.settings.stream)  # an existing stream is used as it is
        except NotFoundError:
            await js.add_stream(
                StreamConfig(
                    name=self.settings.stream,
                    subjects=[f"{self.settings.prefix}.>"],
                    retention=RetentionPolicy(self.settings.retention),
                    max_age=self.settings.max_age_s or None,
                    duplicate_window=self.settings.duplicate_window_s,
                )
            )
        self._nc, self._js = nc, js
        return js

    async def _drop(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None:
            with contextlib.suppress(Exception):  # already gone
                await nc.close()

    def close(self) -> None:
        """Close the connection and the loop."""
        self._loop.run_until_complete(self._drop())
        self._loop.close()
