"""The CLI's side of the management API: HTTP calls, one-line failures, tables and JSON."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import typer

from govledger.proxy.cli.token_store import stored_token

DEFAULT_URL = "http://127.0.0.1:8080"
given_token: ContextVar[str | None] = ContextVar("govledger_cli_token", default=None)
TOKEN_HINT = "set GOVLEDGER_TOKEN or pass --token with an admin token"


class CliError(Exception):
    """A call failed; the message is the one line the user sees."""


@dataclass
class Reply:
    """A successful answer: status, decoded body (JSON or text) and headers."""

    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class Client:
    """Calls a running gateway's management API with an admin token."""

    url: str
    token: str | None

    @classmethod
    def from_env(cls, url: str | None) -> Client:
        """`--url` (or GOVLEDGER_URL; `host:port` means http://) and the token: `--token`,
        else GOVLEDGER_TOKEN, else the one `govledger login` kept for this gateway."""
        base = url or os.environ.get("GOVLEDGER_URL") or DEFAULT_URL
        if "://" not in base:
            base = f"http://{base}"
        base = base.rstrip("/")
        token = given_token.get() or os.environ.get("GOVLEDGER_TOKEN") or stored_token(base)
        return cls(base, token)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Make one call; raises CliError with one line for any failure."""
        params = {k: str(v) for k, v in (query or {}).items() if v is not None}
        target = self.url + path + (f"?{urllib.parse.urlencode(params)}" if params else "")
        sent = {"accept": "application/json", "x-govledger-client": "cli", **(headers or {})}
        if self.token:
            sent["authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["content-type"] = "application/json"
        request = urllib.request.Request(target, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return _reply(response.status, response.read(), dict(response.headers))
        except urllib.error.HTTPError as error:
            raise CliError(_refusal(error.code, error.read())) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CliError(f"cannot reach {self.url}: {reason}") from None


def _reply(status: int, raw: bytes, headers: dict[str, str]) -> Reply:
    kind = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    if not raw:
        return Reply(status, None, headers)
    body: Any = json.loads(raw) if kind.startswith("application/json") else raw.decode()
    return Reply(status, body, {k.lower(): v for k, v in headers.items()})


def _refusal(status: int, raw: bytes) -> str:
    try:
        error = json.loads(raw)["error"]
        text = f"{status} {error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        text = f"{status}: {raw.decode(errors='replace')[:200]}"
    if status == 401:
        text += f" ({TOKEN_HINT})"
    return " ".join(text.split())  # one line whatever the server said


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":")) if value else "-"
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Rows as a fixed-width table with a header line."""
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def emit(value: Any, as_json: bool, columns: Sequence[str] | None = None) -> None:
    """Print a list or an entity: JSON for scripts, a table or `field: value` lines for people."""
    if as_json:
        typer.echo(json.dumps(value, indent=2))
    elif isinstance(value, list):
        typer.echo(table(value, columns or sorted({k for row in value for k in row})))
    elif isinstance(value, dict):
        width = max((len(k) for k in value), default=0)
        for key, item in value.items():
            typer.echo(f"{key.ljust(width)}  {_cell(item)}")
    else:
        typer.echo(str(value))
