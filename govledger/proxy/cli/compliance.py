"""`govledger reports access|controls`: the access review at an instant or its changes
between two, and the control evidence of a period, from a running gateway's API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from govledger.proxy.cli.admin import Url, guarded
from govledger.proxy.cli.client import Client, emit

Printed = Annotated[str, typer.Option("--format", help="csv, jsonl, json or html")]
FORMATS = ("csv", "jsonl", "json", "html")


def _print(path: str, query: dict[str, Any], fmt: str, url: str | None) -> None:
    if fmt not in FORMATS:
        raise typer.BadParameter("one of csv, jsonl, json or html", param_hint="--format")
    reply = Client.from_env(url).call("GET", path, query={**query, "format": fmt})
    if fmt == "json":
        emit(reply.body, True)
    else:
        typer.echo(reply.body, nl=False)


@guarded
def access(
    at: Annotated[str | None, typer.Option("--at", help="the instant, ISO 8601")] = None,
    since: Annotated[str | None, typer.Option("--from", help="inclusive, ISO 8601")] = None,
    until: Annotated[str | None, typer.Option("--to", help="exclusive, ISO 8601")] = None,
    fmt: Printed = "csv",
    url: Url = None,
) -> None:
    """Who had what access at --at (default now), or every grant, revocation and role
    change in [--from, --to), with who made it and from which source."""
    _print("/api/reports/access", {"at": at, "from": since, "to": until}, fmt, url)


@guarded
def controls(
    period: Annotated[str, typer.Option("--period", help="e.g. 2026-Q3, 2026-07 or 2026")],
    fmt: Printed = "json",
    url: Url = None,
) -> None:
    """Evidence of the documented controls (SOC 2, ISO 27001, HIPAA) for a period, with the
    audit chain's head; evidence, not a certification."""
    _print("/api/reports/controls", {"period": period}, fmt, url)


def register(reports: typer.Typer) -> None:
    """Add the compliance reports to `govledger reports`."""
    reports.command("access")(access)
    reports.command("controls")(controls)
