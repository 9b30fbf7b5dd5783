"""Where SIEM records go: stdout, rotating files, syslog (RFC 5424), Splunk HEC, HTTPS.

A sink takes batches of (event id, line) and raises if it could not deliver them all;
the caller then keeps its position, and delivers again later (at least once).
Sinks are named by URL:
  file:///var/log/govledger.jsonl?max_bytes=10485760&backups=5
  syslog+tcp://host:514   syslog+udp://host:514   syslog+tls://host:6514
  splunk://host:8088 (or splunk+http://) with the HEC token in GOVLEDGER_SPLUNK_HEC_TOKEN
  https://host/path (or http://) with an optional bearer in GOVLEDGER_EXPORT_HTTP_TOKEN
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import socket
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TextIO
from urllib.parse import parse_qs, urlsplit

import orjson

from govledger.ledger.secrets.live import Secret, current, secret_setting
from govledger.ledger.secrets.resolver import SecretUnavailableError

Line = tuple[str, str]  # (event id, record)


class SinkError(RuntimeError):
    """A batch could not be delivered (the caller retries it)."""


class Sink(Protocol):
    """A destination for records."""

    def send(self, lines: Sequence[Line]) -> None:
        """Deliver every line or raise SinkError."""

    def close(self) -> None:
        """Release connections and files."""


class StreamSink:
    """One record per line on a text stream (standard output by default)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def send(self, lines: Sequence[Line]) -> None:
        """Write the lines and flush."""
        self.stream.write("".join(line + "\n" for _, line in lines))
        self.stream.flush()

    def close(self) -> None:
        """Nothing to release."""


class FileSink:
    """A file rotated by size, keeping `backups` old files (path.1, path.2, ...)."""

    def __init__(self, path: Path, max_bytes: int = 10 * 1024 * 1024, backups: int = 5) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
        self.handler.setFormatter(logging.Formatter("%(message)s"))
        self._lock = threading.Lock()  # the two logs' consumers may share one file

    def send(self, lines: Sequence[Line]) -> None:
        """Append the lines, rotating when the file would pass its size."""
        with self._lock:
            for _, line in lines:
                record = logging.LogRecord("govledger.export", logging.INFO, "", 0, line, (), None)
                self.handler.emit(record)
            self.handler.flush()

    def close(self) -> None:
        """Close the file."""
        self.handler.close()


class SyslogSink:
    """RFC 5424 messages over TCP (octet counting, RFC 6587), TLS, or UDP (one datagram)."""

    FACILITY = 13  # log audit

    def __init__(self, host: str, port: int, transport: str, app_name: str = "govledger") -> None:
        self.host, self.port, self.transport = host, port, transport
        self.app_name = app_name
        self.hostname = socket.gethostname() or "-"
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def format(self, event_id: str, line: str, severity: int = 6) -> bytes:
        """One RFC 5424 message; the event id is the MSGID's structured data."""
        pri = self.FACILITY * 8 + severity
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        sd = f'[govledger@32473 id="{_sd_escape(event_id)}"]'
        head = f"<{pri}>1 {stamp} {self.hostname} {self.app_name} {os.getpid()} event {sd} "
        return head.encode() + b"\xef\xbb\xbf" + line.encode()

    def send(self, lines: Sequence[Line]) -> None:
        """Send each line as a message; reconnect once on a broken connection."""
        messages = [self.format(event_id, line) for event_id, line in lines]
        with self._lock:
            self._deliver(messages)

    def _deliver(self, messages: list[bytes]) -> None:
        try:
            self._send(messages)
        except OSError:
            self.close()
            try:
                self._send(messages)
            except OSError as error:
                raise SinkError(f"syslog {self.host}:{self.port}: {error}") from error

    def _send(self, messages: list[bytes]) -> None:
        if self.transport == "udp":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                for message in messages:
                    sock.sendto(message, (self.host, self.port))
            return
        if self._sock is None:
            sock = socket.create_connection((self.host, self.port), timeout=10)
            if self.transport == "tls":
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
            self._sock = sock
        self._sock.sendall(b"".join(str(len(m)).encode() + b" " + m for m in messages))

    def close(self) -> None:
        """Close the connection."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class HttpSink:
    """POST batches over HTTP(S), retrying with backoff on connection errors, 429 and 5xx.

    `splunk` posts HEC events (`Authorization: Splunk <token>`); otherwise JSON Lines.
    """

    def __init__(
        self,
        url: str,
        splunk: bool = False,
        token: Secret | None = None,
        attempts: int = 4,
        backoff_s: float = 0.5,
        batch: int = 500,
    ) -> None:
        self.url, self.splunk, self.token = url, splunk, token
        self.attempts, self.backoff_s, self.batch = attempts, backoff_s, batch

    def body(self, lines: Sequence[Line]) -> tuple[bytes, dict[str, str]]:
        """The request body and headers of one batch."""
        if self.splunk:
            events = [
                orjson.dumps(
                    {
                        "event": _as_json(line),
                        "sourcetype": "govledger",
                        "source": "govledger",
                        "fields": {"event_id": event_id},
                    }
                )
                for event_id, line in lines
            ]
            headers = {"Authorization": f"Splunk {current(self.token) if self.token else ''}"}
            return b"\n".join(events), {**headers, "Content-Type": "application/json"}
        headers = {"Content-Type": "application/x-ndjson"}
        if self.token:
            headers["Authorization"] = f"Bearer {current(self.token)}"
        return "".join(line + "\n" for _, line in lines).encode(), headers

    def send(self, lines: Sequence[Line]) -> None:
        """Post the lines in batches; raise SinkError once the retries are spent."""
        for start in range(0, len(lines), self.batch):
            self._post(*self.body(lines[start : start + self.batch]))

    def _post(self, data: bytes, headers: Mapping[str, str]) -> None:
        error: str = ""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            request = urllib.request.Request(self.url, data, dict(headers), method="POST")
            try:
                with urllib.request.urlopen(request, timeout=15):  # noqa: S310 - configured URL
                    return
            except urllib.error.HTTPError as failed:
                error = f"HTTP {failed.code}"
                if failed.code != 429 and failed.code < 500:
                    break  # the receiver refuses this batch: retrying will not help
            except OSError as failed:
                error = str(failed)
        raise SinkError(f"{self.url}: {error}")

    def close(self) -> None:
        """Nothing kept open."""


def open_sink(url: str | None, env: Mapping[str, str] | None = None) -> Sink:
    """The sink a URL names (standard output when there is none)."""
    env = os.environ if env is None else env
    if not url or url == "-":
        return StreamSink()
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if parts.scheme == "file":
        return FileSink(
            Path(parts.path),
            int(query.get("max_bytes", 10 * 1024 * 1024)),
            int(query.get("backups", 5)),
        )
    if parts.scheme.startswith("syslog"):
        transport = parts.scheme.partition("+")[2] or "udp"
        if transport not in ("tcp", "udp", "tls"):
            raise ValueError(f"syslog transport {transport!r}: use tcp, udp or tls")
        return SyslogSink(parts.hostname or "127.0.0.1", parts.port or 514, transport)
    if parts.scheme in ("splunk", "splunk+http", "splunk+https"):
        scheme = "http" if parts.scheme == "splunk+http" else "https"
        target = f"{scheme}://{parts.netloc}{parts.path or '/services/collector/event'}"
        return HttpSink(target, splunk=True, token=_token(env, "GOVLEDGER_SPLUNK_HEC_TOKEN"))
    if parts.scheme in ("http", "https"):
        return HttpSink(url, token=_token(env, "GOVLEDGER_EXPORT_HTTP_TOKEN"))
    raise ValueError(f"unknown sink {url!r}: use file://, syslog+tcp://, splunk://, https://")


def _token(env: Mapping[str, str], name: str) -> Secret | None:
    """A token setting; a reference (`vault.…`) is read again after its TTL, so a rotation
    needs no restart (ValueError naming it if it cannot be resolved when the sink is built)."""
    if not env.get(name):
        return None
    try:
        return secret_setting(env, name)
    except SecretUnavailableError as error:
        raise ValueError(str(error)) from None


def _as_json(line: str) -> object:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return line  # CEF stays a string


def _sd_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")
