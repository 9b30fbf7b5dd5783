"""The `govledger` command: serve, apply, rebuild, status, mock-upstream, schema (and the
management commands of `proxy.cli_admin`)."""

from __future__ import annotations

import errno
import getpass
import json
import logging
import os
import socket
import sqlite3
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, NoReturn

import psycopg
import typer
from eventsourcing.persistence import PersistenceError

from govledger.ledger.config import ConfigError, ConfigFile, parse_config
from govledger.ledger.store import StoreUnavailableError
from govledger.proxy.cli.admin import register as register_management
from govledger.proxy.cli.exporters import register as register_exporters
from govledger.proxy.cli.routes import register as register_routes

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="govledger: an LLM gateway on an event-sourced ledger.",
)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="config.json to apply at start")
]


DATABASE_ERRORS = (sqlite3.Error, psycopg.Error, PersistenceError)  # the store or views failed


def first_line(error: BaseException) -> str:
    """An error's first line, for a one-line message."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def fail(message: str) -> None:
    """Print one line to stderr and exit non-zero."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def load_config(path: Path) -> ConfigFile:
    """Read and validate a config file, or exit with the paths of its problems."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        fail(f"{path}: no such file")
    except json.JSONDecodeError as error:
        fail(f"{path}: not valid JSON ({error})")
    try:
        return parse_config(raw)
    except ConfigError as error:
        refuse(path, error)


def refuse(path: Path, error: ConfigError) -> NoReturn:
    """Print one line per problem of a config file, naming its JSON path, and exit."""
    lines = [f"{path}: {p}: {m}" for p, m in error.problems]
    typer.echo("\n".join(f"error: {line}" for line in lines), err=True)
    raise typer.Exit(1) from None


def _settings(**overrides: Any) -> Any:
    from govledger.proxy.server.runtime import Settings

    return Settings.from_env(**overrides)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"govledger {metadata.version('govledger')}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """govledger: an LLM gateway on an event-sourced ledger."""


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or one line and exit 1 if the port is taken."""
    try:
        return socket.create_server((host, port), backlog=2048)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            fail(f"port {port} on {host} is already in use")
        fail(f"cannot listen on {host}:{port}: {error.strerror or error}")
    raise AssertionError("unreachable")


LogLevel = Annotated[
    str,
    typer.Option(
        "--log-level",
        envvar="GOVLEDGER_LOG_LEVEL",
        help="debug, info, warning or error (GOVLEDGER_LOG_FORMAT=json for JSON lines)",
    ),
]


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to bind")] = 8080,
    mock_upstream: Annotated[
        int | None,
        typer.Option("--mock-upstream", help="also serve the fake upstream on this port"),
    ] = None,
    log_level: LogLevel = "info",
) -> None:
    """Run the gateway."""
    import uvicorn

    from govledger.ledger.store import Store
    from govledger.proxy.server import logs
    from govledger.proxy.server.app import create_app
    from govledger.proxy.server.runtime import Runtime
    from govledger.proxy.server.slow_clients import timed_protocol

    form = os.environ.get("GOVLEDGER_LOG_FORMAT", "text").lower()
    if log_level.lower() not in logs.LEVELS:
        fail(f"--log-level: one of {', '.join(logs.LEVELS)}, not {log_level!r}")
    if form not in logs.FORMATS:
        fail(f"GOVLEDGER_LOG_FORMAT: one of {', '.join(logs.FORMATS)}, not {form!r}")
    settings = _settings(mock_upstream_port=mock_upstream)
    parsed = load_config(config) if config else None
    try:  # fail fast with one line if the store is down
        Store(settings.database_url).close()
    except StoreUnavailableError as error:
        fail(str(error))
    listening = bind(host, port)
    mock_socket = bind("127.0.0.1", mock_upstream) if mock_upstream is not None else None
    logs.configure(log_level, form)

    def ready(runtime: Runtime) -> None:
        keys = runtime.state.live("virtual_key")
        active = sum(1 for k in keys.values() if k.get("is_active"))
        mock = f"; fake upstream on http://127.0.0.1:{mock_upstream}" if mock_upstream else ""
        logging.getLogger("govledger").info(
            "govledger %s listening on http://%s:%d; store %s; %d virtual key(s), %d active%s",
            metadata.version("govledger"),
            host,
            port,
            runtime.store.url.masked(),
            len(keys),
            active,
            mock,
        )

    application = create_app(settings, parsed, config, mock_socket=mock_socket, on_ready=ready)
    server = uvicorn.Server(
        uvicorn.Config(
            application,
            log_level=log_level.lower(),
            log_config=None,  # our handler (text or JSON) takes uvicorn's records too
            access_log=False,
            loop="uvloop",
            http=timed_protocol(settings.header_read_timeout_s, settings.body_read_timeout_s),
        )
    )
    server.run(sockets=[listening])
    if not server.started:  # the lifespan failed (logged above)
        raise typer.Exit(1)


@app.command()
def apply(
    file: Annotated[Path, typer.Argument(help="config.json")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the plan, append nothing")
    ] = False,
    actor: Annotated[
        str | None, typer.Option(help="who is applying (default: the OS user)")
    ] = None,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="also disable the active keys the file does not declare, whoever made them",
        ),
    ] = False,
) -> None:
    """Append the difference between FILE and the ledger (nothing if they match).

    The file manages what it declares: entities created through the API, CLI or UI are
    left alone (the plan lists them) unless --prune disables the keys among them.
    """
    from govledger.ledger.credentials import SecretBox
    from govledger.ledger.governance import ConcurrentChangeError, GovernanceLedger
    from govledger.ledger.plan import describe
    from govledger.ledger.store import Store

    config = load_config(file)
    settings = _settings()
    try:
        store = Store(settings.database_url)
    except StoreUnavailableError as error:
        fail(str(error))
    try:
        ledger = GovernanceLedger(
            store, SecretBox.from_environment_or_file(settings.secret_key_file)
        )
        plan, appended = ledger.apply(config, actor or _user(), "cli", dry_run=dry_run, prune=prune)
    except ConfigError as error:  # a value only planning can check, e.g. an unset env.NAME
        refuse(file, error)
    except ConcurrentChangeError as error:
        fail(str(error))
    finally:
        store.close()
    for line in describe(plan):
        typer.echo(line)
    for key_id, value in plan.new_key_values.items():
        if not dry_run:
            typer.echo(f"new virtual key {key_id}: {value}  (shown once; store it now)")
    typer.echo(("dry run: " if dry_run else "") + f"{appended} event(s) appended")


@app.command()
def rebuild() -> None:
    """Fold the views and the /metrics counters again from event 1; keep the audit chain and
    the delivery consumers (SIEM, OTLP, alerts) where they are. Safe with the gateway running."""
    from govledger.exporters import registry
    from govledger.ledger.store import Store
    from govledger.projections.database import ViewDatabase
    from govledger.projections.rebuild import readers
    from govledger.projections.rebuild import rebuild as run_rebuild

    settings = _settings()
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


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """Store URL (password masked), event counts, each projection's position and lag.

    Every tracked reader is listed: the views and the exporters' consumers alike.
    """
    from govledger.ledger.store import open_existing
    from govledger.projections.database import ViewDatabase

    settings = _settings()
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


@app.command("mock-upstream")
def mock_upstream(
    port: Annotated[int, typer.Option(help="port to bind")] = 9000,
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    latency_ms: Annotated[float, typer.Option("--latency-ms", help="delay per response")] = 0.0,
    fail_rate: Annotated[float, typer.Option("--fail-rate", help="fraction answered 503")] = 0.0,
    retry_after: Annotated[
        float | None,
        typer.Option("--retry-after", help="answer every request 429 with this Retry-After"),
    ] = None,
) -> None:
    """Serve fake OpenAI, Anthropic and Gemini endpoints for demos and tests."""
    from govledger.proxy.fake_upstream.server import run

    run(host, port, latency_ms, fail_rate, sock=bind(host, port), retry_after_s=retry_after)


@app.command()
def schema() -> None:
    """Print the JSON Schema of config.json."""
    typer.echo(json.dumps(ConfigFile.model_json_schema(by_alias=True), indent=2))


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


register_management(app)  # customers, teams, keys, … against a running gateway
register_exporters(app)  # audit verify
register_routes(app)  # routes: adaptive routing's health and weights


def main() -> None:
    """Entry point of the `govledger` command."""
    app()
