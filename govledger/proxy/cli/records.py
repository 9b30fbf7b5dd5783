"""The API's records as the CLI reads, edits and lists them: `--data`, PUT bodies, pages."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import typer

from govledger.proxy.cli.client import Client, CliError, emit

# Fields the API shows but a PUT body must not carry.
READ_ONLY = (
    "id",
    "version",
    "managed_by",
    "value_prefix",
    "retired",
    "builtin",
    "token_prefix",
    "issued_at",
)


def parse_data(text: str | None) -> dict[str, Any]:
    """`--data`: a JSON object, or @path to a file holding one."""
    if not text:
        return {}
    try:
        raw = Path(text[1:]).read_text() if text.startswith("@") else text
        value = json.loads(raw)
    except (OSError, ValueError) as error:
        raise CliError(f"--data: {error}") from None
    if not isinstance(value, dict):
        raise CliError("--data: expected a JSON object")
    return value


def editable(entity: dict[str, Any]) -> dict[str, Any]:
    """An entity as shown, minus its read-only fields: a valid PUT body."""
    body = {k: v for k, v in entity.items() if k not in READ_ONLY}
    if "keys" in body:  # provider keys: without `value`, each keeps its stored one
        body["keys"] = [{k: v for k, v in key.items() if k != "stored_as"} for key in body["keys"]]
    return body


def page(
    client: Client, path: str, query: dict[str, Any], as_json: bool, columns: list[str]
) -> None:
    """Print one page of a list, and where the next one starts."""
    reply = client.call("GET", path, query=query)
    emit(reply.body if as_json else reply.body["data"], as_json, columns)
    if not as_json and reply.body.get("next_cursor"):
        typer.echo(f"(more: --cursor {reply.body['next_cursor']})", err=True)


def replace(client: Client, path: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
    """Read an entity, change its editable fields, and PUT it back at the version read."""
    current = client.call("GET", path).body
    body = change(editable(current))
    headers = {"if-match": f'"{current["version"]}"'}
    return client.call("PUT", path, body, headers=headers).body


def listing(
    client: Client, path: str, query: Mapping[str, Any], fmt: str, columns: list[str]
) -> None:
    """Print one page of an audit or report listing as a table, JSON, CSV or JSON lines."""
    wire = "json" if fmt == "table" else fmt
    reply = client.call("GET", path, query={**query, "format": wire})
    if fmt in ("csv", "jsonl"):
        typer.echo(reply.body, nl=False)
        cursor = reply.headers.get("x-next-cursor")
    else:
        emit(reply.body if fmt == "json" else reply.body["data"], fmt == "json", columns)
        cursor = reply.body.get("next_cursor")
    if cursor:
        typer.echo(f"(more: --cursor {cursor})", err=True)
