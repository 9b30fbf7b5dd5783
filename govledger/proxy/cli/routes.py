"""`govledger routes`: each route's health state and signals, and a key's effective shares."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from govledger.proxy.cli.client import Client, emit
from govledger.proxy.cli.options import Json, Url, guarded

ROUTE_COLUMNS = [
    "provider",
    "key_id",
    "model",
    "state",
    "factor",
    "error_rate",
    "latency_ms",
    "first_token_ms",
    "per_token_ms",
]
SHARE_COLUMNS = ["provider", "key", "configured", "effective"]
GROUP_COLUMNS = ["group", "members", "provider", "key_id", "model", "state", "effective"]


@guarded
def routes(
    key: Annotated[str | None, typer.Option("--key", help="a virtual key id: its shares")] = None,
    model: Annotated[str | None, typer.Option("--model", help="the model of those shares")] = None,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Every route with recent evidence: state, factor of its weight, error rate, latency."""
    query = {"virtual_key": key, "model": model}
    body = Client.from_env(url).call("GET", "/api/routes", query=query).body
    if as_json:
        emit(body, True)
        return
    emit(body["routes"], False, ROUTE_COLUMNS)
    if body.get("groups"):
        typer.echo("\nEffective weights per routing group of adaptive keys:")
        emit(body["groups"], False, GROUP_COLUMNS)
    held = body.get("virtual_key")
    if held:
        typer.echo(f"\n{held['id']} ({held['routing']}) for {held['model']}:")
        rows: list[dict[str, Any]] = []
        for share in held["shares"]:
            rows.append({**share, "key": "*"})
            rows += [{"provider": "", **k, "key": k["id"]} for k in share["keys"]]
        for row in rows:
            row["configured"] = f"{row['configured']:.3f}"
            row["effective"] = f"{row['effective']:.3f}"
        emit(rows, False, SHARE_COLUMNS)


def register(app: typer.Typer) -> None:
    """Add `govledger routes` to the `govledger` command."""
    app.command("routes")(routes)
