"""`govledger audit`: the audit trail and request log (over HTTP, from a running gateway) and
`audit verify` (the hash chain, walked on the store itself)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from govledger.proxy.cli import environment
from govledger.proxy.cli.client import Client
from govledger.proxy.cli.exits import fail, first_line
from govledger.proxy.cli.options import Cursor, Format, Limit, Since, Until, Url, guarded
from govledger.proxy.cli.records import listing

if TYPE_CHECKING:
    from govledger.ledger.store import Store
    from govledger.projections.database import ViewDatabase

audit = typer.Typer(no_args_is_help=True, help="The audit trail and the request log.")
Done = TypeVar("Done")


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
    listing(Client.from_env(url), "/api/audit/events", query, fmt, columns)


@audit.command("requests")
@guarded
def audit_requests(
    key: Annotated[str | None, typer.Option(help="a virtual key id")] = None,
    team: Annotated[str | None, typer.Option(help="a team id")] = None,
    customer: Annotated[str | None, typer.Option(help="a customer id")] = None,
    user: Annotated[str | None, typer.Option(help="a user id (the key's owner)")] = None,
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
        "user_id": user,
        "model": model,
        "status": status,
        "from": since,
        "to": until,
        "limit": limit,
        "cursor": cursor,
    }
    columns = ["admitted_at", "key_id", "model", "provider", "status", "cost", "reason"]
    listing(Client.from_env(url), "/api/audit/requests", query, fmt, columns)


@audit.command("verify")
def verify() -> None:
    """Walk the governance log's hash chain; name the first event whose stored form changed."""
    from govledger.exporters.audit_chain import verify as walk

    verdict = on_chain(walk, "audit chain not verified")
    typer.echo(verdict.describe())
    if not verdict.intact:
        raise typer.Exit(1)


def on_chain(run: Callable[[Store, ViewDatabase], Done], failure: str) -> Done:
    """Run on the store with the audit chain's table there; any error is one line, exit 1."""
    from govledger.exporters.audit_chain import create_tables
    from govledger.ledger.store import StoreUnavailableError, open_existing
    from govledger.projections.database import ViewDatabase

    settings = environment.settings()
    try:
        store = open_existing(settings.database_url)
    except StoreUnavailableError as error:
        fail(str(error))
    db = ViewDatabase(settings.database_url)
    try:
        db.create()
        create_tables(db)
        return run(store, db)
    except Exception as error:  # whatever is wrong: one line and exit 1, never a traceback
        fail(f"{failure}: {type(error).__name__}: {first_line(error)}")
    finally:
        db.close()
        store.close()
