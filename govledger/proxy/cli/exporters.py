"""`govledger audit verify` and `govledger export`: exporters' commands on the store itself."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from govledger.proxy.cli import queries as cli_queries


def verify() -> None:
    """Walk the governance log's hash chain; name the first event whose stored form changed."""
    from govledger.exporters.audit_chain import create_tables
    from govledger.exporters.audit_chain import verify as walk
    from govledger.ledger.store import StoreUnavailableError, open_existing
    from govledger.projections.database import ViewDatabase
    from govledger.proxy.cli.main import _settings, fail, first_line

    settings = _settings()
    try:
        store = open_existing(settings.database_url)
    except StoreUnavailableError as error:
        fail(str(error))
    db = ViewDatabase(settings.database_url)
    try:
        db.create()
        create_tables(db)
        verdict = walk(store, db)
    except Exception as error:  # whatever is wrong: one line and exit 1, never a traceback
        fail(f"audit chain not verified: {type(error).__name__}: {first_line(error)}")
    finally:
        db.close()
        store.close()
    typer.echo(verdict.describe())
    if not verdict.intact:
        raise typer.Exit(1)


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
    from govledger.proxy.cli.main import _settings, fail

    if fmt not in FORMATS:
        fail(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    start, end = _when(since, "--from"), _when(until, "--to")
    try:
        target = open_sink(sink)
    except ValueError as error:
        fail(str(error))
    try:
        store = open_existing(_settings().database_url)
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


def register(app: typer.Typer) -> None:
    """Add the exporters' commands (`audit verify`, `export`) to the `govledger` command."""
    cli_queries.audit.command("verify")(verify)
    app.command("export")(export)
