"""`govledger usage`, `govledger audit events|requests`, `govledger reports spend|compliance`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import typer

from govledger.proxy.cli.admin import Cursor, Json, Limit, Url, guarded
from govledger.proxy.cli.client import Client, emit

Format = Annotated[str, typer.Option("--format", help="table, json, csv or jsonl")]
Since = Annotated[str | None, typer.Option("--from", help="inclusive, ISO 8601")]
Until = Annotated[str | None, typer.Option("--to", help="exclusive, ISO 8601")]
LIMIT_COLUMNS = ["id", "level", "limit", "settled", "reserved", "remaining", "period_end"]


@guarded
def usage(key_id: str, url: Url = None, as_json: Json = False) -> None:
    """Each budget and rate limit that applies to KEY (a virtual key id), with its figures."""
    body = Client.from_env(url).call("GET", f"/api/governance/virtual-keys/{key_id}/usage").body
    if as_json:
        emit(body, True)
        return
    emit(body["budgets"], False, LIMIT_COLUMNS)
    if body["rate_limits"]:
        typer.echo("")
        emit(body["rate_limits"], False, LIMIT_COLUMNS)


def _show(
    client: Client, path: str, query: Mapping[str, Any], fmt: str, columns: list[str]
) -> None:
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


audit = typer.Typer(no_args_is_help=True, help="The audit trail and the request log.")


@audit.command("events")
@guarded
def audit_events(
    actor: Annotated[str | None, typer.Option(help="who made the change")] = None,
    action: Annotated[str | None, typer.Option(help="e.g. team.updated")] = None,
    resource_type: Annotated[str | None, typer.Option(help="e.g. virtual_key")] = None,
    resource_id: Annotated[str | None, typer.Option(help="the entity's id")] = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
    cursor: Cursor = None,
    fmt: Format = "table",
    url: Url = None,
) -> None:
    """Governance changes and refused calls, oldest first."""
    query = {
        "actor": actor,
        "action": action,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "from": since,
        "to": until,
        "limit": limit,
        "cursor": cursor,
    }
    columns = ["position", "at", "actor", "source", "action", "resource_type", "resource_id"]
    _show(Client.from_env(url), "/api/audit/events", query, fmt, columns)


@audit.command("requests")
@guarded
def audit_requests(
    key: Annotated[str | None, typer.Option(help="a virtual key id")] = None,
    team: Annotated[str | None, typer.Option(help="a team id")] = None,
    customer: Annotated[str | None, typer.Option(help="a customer id")] = None,
    model: Annotated[str | None, typer.Option(help="the model asked for")] = None,
    status: Annotated[str | None, typer.Option(help="ok, rejected, upstream_error …")] = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
    cursor: Cursor = None,
    fmt: Format = "table",
    url: Url = None,
) -> None:
    """The request log, oldest first."""
    query = {
        "virtual_key_id": key,
        "team_id": team,
        "customer_id": customer,
        "model": model,
        "status": status,
        "from": since,
        "to": until,
        "limit": limit,
        "cursor": cursor,
    }
    columns = ["admitted_at", "key_id", "model", "provider", "status", "cost", "reason"]
    _show(Client.from_env(url), "/api/audit/requests", query, fmt, columns)


reports = typer.Typer(no_args_is_help=True, help="Spend and compliance reports.")


@reports.command("spend")
@guarded
def spend(
    group_by: Annotated[
        str, typer.Option(help="customer, team, virtual_key, provider or model")
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
    _show(Client.from_env(url), "/api/reports/spend", query, fmt, columns)


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
