"""`govledger reports access|controls`: the access review at an instant or its changes
between two, and the control evidence of a period, from a running gateway's API; and
`govledger retention prune|archive|verify`, run on the store itself (like `rebuild`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from govledger.proxy.cli.client import Client, emit
from govledger.proxy.cli.options import Url, guarded

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


retention = typer.Typer(no_args_is_help=True, help="Retention of the views' rows.")


@retention.command("prune")
def prune(
    requests: Annotated[
        str | None,
        typer.Option(
            "--requests",
            help="request log rows older than this go (default "
            "$GOVLEDGER_RETAIN_REQUESTS), e.g. 400d",
        ),
    ] = None,
    headers: Annotated[
        str | None,
        typer.Option(
            "--headers",
            help="recorded header values older than this go (default "
            "$GOVLEDGER_RETAIN_HEADERS), e.g. 30d",
        ),
    ] = None,
    deliveries: Annotated[
        str | None,
        typer.Option(
            "--deliveries",
            help="exporter delivery records (fired alerts) older than this go (default "
            "$GOVLEDGER_RETAIN_DELIVERIES), e.g. 90d",
        ),
    ] = None,
) -> None:
    """Drop the view rows past their retention period (the events are kept) and record the
    run as a RetentionPruned event."""
    from govledger.compliance.pruning import prune as run_prune
    from govledger.compliance.retention import RetentionPolicy
    from govledger.ledger.periods import DurationError
    from govledger.ledger.store import Store, StoreUnavailableError
    from govledger.projections.database import ViewDatabase
    from govledger.proxy.cli.environment import settings as _settings
    from govledger.proxy.cli.environment import user as _user
    from govledger.proxy.cli.exits import fail

    settings = _settings()
    try:
        policy = RetentionPolicy.parse(
            requests or settings.retain_requests,
            headers or settings.retain_headers,
            deliveries or settings.retain_deliveries,
        )
    except DurationError as error:
        fail(str(error))
    if not policy.periods():
        fail(
            "no retention period: give --requests, --headers or --deliveries "
            "(or GOVLEDGER_RETAIN_*)"
        )
    try:
        store = Store(settings.database_url)
    except StoreUnavailableError as error:
        fail(str(error))
    db = ViewDatabase(settings.database_url)
    try:
        db.create()
        event = run_prune(store, db, policy, _user(), "cli")
    finally:
        db.close()
        store.close()
    for name, count in event.pruned.items():
        typer.echo(f"{name}: {count} row(s) before {event.cutoffs[name]} pruned")


@retention.command("archive")
def archive(
    events: Annotated[
        str, typer.Option("--events", help="governance events older than this, e.g. 400d")
    ],
    to: Annotated[Path, typer.Option("--to", help="the JSON Lines file to write")],
) -> None:
    """Copy the governance events past a period to a file with their audit-chain digests
    and the chain's head (the events stay in the store); record the run as an event."""
    from govledger.compliance.archive import archive as run_archive
    from govledger.compliance.retention import retention_period
    from govledger.ledger.periods import DurationError
    from govledger.proxy.cli.audit import on_chain
    from govledger.proxy.cli.environment import user as _user
    from govledger.proxy.cli.exits import fail

    try:
        period = retention_period(events)
    except DurationError as error:
        fail(str(error))
    if not to.parent.is_dir():
        fail(f"{to.parent}: no such directory")
    done = on_chain(
        lambda store, db: run_archive(store, db, period, to, _user(), "cli"),
        "events not archived",
    )
    typer.echo(
        f"events: {done.events} archived to {to} (kept in the store), "
        f"head {done.head_position} {done.head_digest}"
    )


@retention.command("verify")
def verify(path: Annotated[Path, typer.Argument(help="an archive written by `archive`")]) -> None:
    """Check an archive against the ledger: each event's digest, the chain and the store."""
    from govledger.compliance.archive import verify_archive
    from govledger.proxy.cli.audit import on_chain
    from govledger.proxy.cli.exits import fail

    if not path.is_file():
        fail(f"{path}: no such file")
    verdict = on_chain(lambda store, db: verify_archive(store, db, path), "archive not verified")
    typer.echo(verdict.describe())
    if not verdict.intact:
        raise typer.Exit(1)


users = typer.Typer(no_args_is_help=True, help="People whose data the ledger holds.")


@users.command("forget")
def forget(
    subject: Annotated[
        str, typer.Argument(help="the subject as sent, e.g. an x-user-id value; - reads stdin")
    ],
) -> None:
    """Erase a subject: destroy its key, so every value sealed under it shows as erased, and
    record a SubjectErased event (run on the store, like `retention prune`)."""
    import sys

    from govledger.compliance.erasure import ErasureNotRecordedError
    from govledger.compliance.erasure import forget as run_forget
    from govledger.ledger.credentials import CredentialError, SecretBox
    from govledger.ledger.store import Store, StoreUnavailableError
    from govledger.ledger.subject_keys import KeyRing, SubjectKeys
    from govledger.proxy.cli.environment import settings as _settings
    from govledger.proxy.cli.environment import user as _user
    from govledger.proxy.cli.exits import fail

    if subject == "-":  # kept out of the shell's history and the process list
        subject = sys.stdin.readline().rstrip("\r\n")
    if not subject:
        fail("no subject given")
    settings = _settings()
    try:
        box = SecretBox.from_environment_or_file(settings.secret_key_file)
        store = Store(settings.database_url)
    except (CredentialError, StoreUnavailableError) as error:
        fail(str(error))
    keys = SubjectKeys(settings.database_url, box)
    try:
        event = run_forget(
            KeyRing(keys),
            lambda events: store.governance.save(*events),
            subject,
            _user(),
            "cli",
            datetime.now(UTC),
        )
    except ErasureNotRecordedError as error:
        fail(str(error))
    finally:
        keys.close()
        store.close()
    had = "its key destroyed" if event.keys_destroyed else "it had no key (nothing sealed)"
    typer.echo(f"{event.ref}: forgotten, {had}; recorded as SubjectErased")


def register(app: typer.Typer, reports: typer.Typer) -> None:
    """Add the compliance reports to `govledger reports`, `govledger retention` and
    `govledger users`."""
    reports.command("access")(access)
    reports.command("controls")(controls)
    app.add_typer(retention, name="retention")
    app.add_typer(users, name="users")
