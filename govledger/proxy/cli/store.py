"""`govledger rebuild` and `govledger status`: the store and its views, refolded or read."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer

from govledger.ledger.store import StoreUnavailableError
from govledger.proxy.cli import environment
from govledger.proxy.cli.exits import DATABASE_ERRORS, fail, first_line


def rebuild() -> None:
    """Fold the views and the /metrics counters again from event 1; keep the audit chain and
    the delivery consumers (SIEM, OTLP, alerts) where they are. Safe with the gateway running."""
    from govledger.exporters import registry
    from govledger.ledger.store import Store
    from govledger.projections.database import ViewDatabase
    from govledger.projections.rebuild import readers
    from govledger.projections.rebuild import rebuild as run_rebuild

    settings = environment.settings()
    try:
        store = Store(settings.database_url)
    except StoreUnavailableError as error:
        fail(str(error))
    refolds = registry.refolds()
    started = time.perf_counter()
    try:
        db = ViewDatabase(settings.database_url)
        try:
            registry.create_tables(db)
        finally:
            db.close()
        total = sum(store.max_position(r.app) for r in readers(refolds))
        with typer.progressbar(length=total, label="rebuilding", file=sys.stderr) as bar:
            done = run_rebuild(store, settings.database_url, refolds, progress=bar.update)
    except DATABASE_ERRORS as error:
        fail(f"rebuild stopped: {first_line(error)} (run it again: it starts over)")
    finally:
        store.close()
    seconds = time.perf_counter() - started
    names = ", ".join(done.folded)
    typer.echo(
        f"rebuilt {names} from event 1: {sum(done.folded.values())} event(s) folded"
        f" in {seconds:.1f}s"
    )
    if done.kept:
        typer.echo("kept at their position: " + ", ".join(f"{v} ({a})" for v, a in done.kept))


def status(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """Store URL (password masked), event counts, each projection's position and lag.

    Every tracked reader is listed: the views and the exporters' consumers alike.
    """
    from govledger.ledger.store import open_existing
    from govledger.projections.database import ViewDatabase

    settings = environment.settings()
    try:
        store = open_existing(settings.database_url)
    except StoreUnavailableError as error:
        fail(str(error))
    views = ViewDatabase(settings.database_url)
    report: dict[str, Any] = {"store": store.url.masked(), "events": {}, "projections": []}
    try:
        views.create()
        heads = {app_name: store.max_position(app_name) for app_name in ("governance", "usage")}
        rows = views.query("SELECT view, app, position FROM gl_tracking ORDER BY app, view")
    except DATABASE_ERRORS as error:
        views.close()
        store.close()
        fail(f"status not read: {first_line(error)}")
    report["events"] = heads
    report["members"] = _members(views, settings.lease_s)
    for name, app_name, position in rows:
        head = heads.get(app_name, 0)
        report["projections"].append(
            {"name": name, "app": app_name, "position": int(position), "lag": head - int(position)}
        )
    views.close()
    store.close()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    typer.echo(f"store: {report['store']}")
    for app_name, count in report["events"].items():
        typer.echo(f"{app_name} events: {count}")
    for p in report["projections"]:
        typer.echo(f"view {p['name']}: position {p['position']}, lag {p['lag']}")
    for m in report["members"]:
        state = "alive" if m["alive"] else ("stopped" if m["stopped"] else "not seen")
        typer.echo(f"member {m['holder']}: {state}, last seen {m['seen_at']}")


def _members(views: Any, lease_s: float) -> list[dict[str, Any]]:
    """The instances' heartbeats (cluster mode, PostgreSQL); none on SQLite or before any."""
    from govledger.proxy.server.members import read_members

    if not views.is_postgres:
        return []
    try:
        with views.transaction() as cur:
            cur.execute("SELECT to_regclass('gl_members')")
            if cur.fetchone()[0] is None:
                return []
            members = read_members(cur, lease_s)
    except DATABASE_ERRORS:
        return []
    return [
        {
            "holder": m.holder,
            "instance": m.instance,
            "alive": m.alive,
            "stopped": m.stopped,
            "seen_at": m.seen_at.isoformat(),
        }
        for m in members
    ]
