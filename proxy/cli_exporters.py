"""`govledger audit verify`: the exporters' commands that read the store directly."""

from __future__ import annotations

import typer

from proxy import cli_queries


def verify() -> None:
    """Walk the governance log's hash chain; name the first event whose stored form changed."""
    from exporters.audit_chain import create_tables
    from exporters.audit_chain import verify as walk
    from ledger.store import Store, StoreUnavailableError
    from projections.database import ViewDatabase
    from proxy.cli import _settings, fail

    settings = _settings()
    try:
        store = Store(settings.database_url)
    except StoreUnavailableError as error:
        fail(str(error))
    db = ViewDatabase(settings.database_url)
    try:
        db.create()
        create_tables(db)
        verdict = walk(store, db)
    finally:
        db.close()
        store.close()
    typer.echo(verdict.describe())
    if not verdict.intact:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the exporters' commands (`audit verify`) to the `govledger` command."""
    cli_queries.audit.command("verify")(verify)
