"""`govledger export`: the ledger's events in a time range, replayed to a SIEM format and sink."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from govledger.proxy.cli import environment
from govledger.proxy.cli.exits import fail


def export(
    since: Annotated[
        str | None, typer.Option("--from", help="ISO time, inclusive (default: the start)")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="ISO time, exclusive (default: now)")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="ecs | ocsf | cef")] = "ecs",
    sink: Annotated[
        str | None,
        typer.Option(help="file:///path, syslog+tcp://host:port, splunk://host:port, https://..."),
    ] = None,
) -> None:
    """Replay the ledger's events in a time range to a SIEM format and sink (default stdout)."""
    from govledger.exporters.siem_export import replay
    from govledger.exporters.siem_formats import FORMATS
    from govledger.exporters.siem_sinks import SinkError, open_sink
    from govledger.ledger.store import StoreUnavailableError, open_existing

    if fmt not in FORMATS:
        fail(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    start, end = _when(since, "--from"), _when(until, "--to")
    try:
        target = open_sink(sink)
    except ValueError as error:
        fail(str(error))
    try:
        store = open_existing(environment.settings().database_url)
    except StoreUnavailableError as error:
        fail(str(error))
    total = store.max_position("governance") + store.max_position("usage")
    try:
        with typer.progressbar(length=total, label="exporting", file=sys.stderr) as bar:
            sent = replay(store, start, end, fmt, target, progress=bar.update)
    except SinkError as error:
        fail(str(error))
    finally:
        target.close()
        store.close()
    typer.echo(f"exported {sent} record(s)", err=True)


def _when(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        typer.echo(f"error: {option} {text!r} is not an ISO date or time", err=True)
        raise typer.Exit(1) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
