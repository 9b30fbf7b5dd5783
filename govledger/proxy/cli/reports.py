"""`govledger reports spend|compliance`, from a running gateway."""

from __future__ import annotations

from typing import Annotated

import typer

from govledger.proxy.cli.client import Client, emit
from govledger.proxy.cli.options import Cursor, Format, Limit, Since, Until, Url, guarded
from govledger.proxy.cli.records import listing

reports = typer.Typer(no_args_is_help=True, help="Spend and compliance reports.")


@reports.command("spend")
@guarded
def spend(
    group_by: Annotated[
        str, typer.Option(help="customer, team, user, virtual_key, provider or model")
    ] = "virtual_key",
    granularity: Annotated[str, typer.Option(help="hour, day or month")] = "day",
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
    cursor: Cursor = None,
    fmt: Format = "table",
    url: Url = None,
) -> None:
    """Cost, requests and tokens per period and group."""
    query = {
        "group_by": group_by,
        "granularity": granularity,
        "from": since,
        "to": until,
        "limit": limit,
        "cursor": cursor,
    }
    columns = ["period", "group", "requests", "cost", "input_tokens", "output_tokens"]
    listing(Client.from_env(url), "/api/reports/spend", query, fmt, columns)


@reports.command("compliance")
@guarded
def compliance(
    since: Since = None,
    until: Until = None,
    fmt: Annotated[str, typer.Option("--format", help="csv, jsonl or json")] = "csv",
    url: Url = None,
) -> None:
    """Governance changes (before and after), spend by customer, team and key, and refused
    requests by reason, for the period [--from, --to)."""
    if fmt not in ("csv", "jsonl", "json"):
        raise typer.BadParameter("one of csv, jsonl or json", param_hint="--format")
    query = {"from": since, "to": until, "format": fmt}
    reply = Client.from_env(url).call("GET", "/api/reports/compliance", query=query)
    if fmt == "json":
        emit(reply.body, True)
    else:
        typer.echo(reply.body, nl=False)
