"""`govledger serve` (the gateway) and `govledger mock-upstream`: the commands that listen."""

from __future__ import annotations

import errno
import logging
import os
import socket
from importlib import metadata
from pathlib import Path
from typing import Annotated

import typer

from govledger.ledger.store import StoreUnavailableError
from govledger.proxy.cli import environment
from govledger.proxy.cli.config_file import load_config
from govledger.proxy.cli.exits import fail

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="config.json to apply at start")
]


def bind(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    """A listening socket on host:port, or one line and exit 1 if the port is taken."""
    try:
        return socket.create_server((host, port), backlog=2048, reuse_port=reuse_port)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            fail(f"port {port} on {host} is already in use")
        fail(f"cannot listen on {host}:{port}: {error.strerror or error}")


LogLevel = Annotated[
    str,
    typer.Option(
        "--log-level",
        envvar="GOVLEDGER_LOG_LEVEL",
        help="debug, info, warning or error (GOVLEDGER_LOG_FORMAT=json for JSON lines)",
    ),
]


def serve(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to bind")] = 8080,
    mock_upstream: Annotated[
        int | None,
        typer.Option("--mock-upstream", help="also serve the fake upstream on this port"),
    ] = None,
    log_level: LogLevel = "info",
    workers: Annotated[
        int,
        typer.Option(help="equal instances on this port (PostgreSQL): NAME-w1 ... NAME-wN"),
    ] = 1,
    reuse_port: Annotated[bool, typer.Option("--reuse-port", hidden=True)] = False,
) -> None:
    """Run the gateway."""
    if workers != 1:
        _serve_workers(config, host, port, mock_upstream, log_level, workers)
        return
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
    settings = environment.settings(mock_upstream_port=mock_upstream)
    parsed = load_config(config) if config else None
    try:  # fail fast with one line if the store is down
        Store(settings.database_url).close()
    except StoreUnavailableError as error:
        fail(str(error))
    from govledger.proxy.cli.secrets import first_unresolved

    unresolved = first_unresolved(settings.database_url, parsed)
    if unresolved:  # a referenced secret without a value: one line naming it, and why
        fail(unresolved)
    listening = bind(host, port, reuse_port)
    mock_socket = bind("127.0.0.1", mock_upstream) if mock_upstream is not None else None
    logs.configure(log_level, form)

    def ready(runtime: Runtime) -> None:
        keys = runtime.state.live("virtual_key")
        active = sum(1 for k in keys.values() if k.get("is_active"))
        mock = f"; fake upstream on http://127.0.0.1:{mock_upstream}" if mock_upstream else ""
        logging.getLogger("govledger").info(
            "govledger %s listening on http://%s:%d (web UI: http://%s:%d/ui/); store %s; "
            "%d virtual key(s), %d active%s",
            metadata.version("govledger"),
            host,
            port,
            host,
            port,
            runtime.store.url.masked(),
            len(keys),
            active,
            mock,
        )

    application = create_app(settings, parsed, config, mock_socket=mock_socket, on_ready=ready)
    del parsed  # the app applies it at start; nothing else holds it while the server runs
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


def _serve_workers(
    config: Path | None, host: str, port: int, mock: int | None, log_level: str, workers: int
) -> None:
    """Supervise `workers` instances on one port; the first applies the config alone."""
    from govledger.proxy.cli.workers import supervise, worker_instances, worker_refusal

    settings = environment.settings()
    refusal = worker_refusal(workers, settings.database_url, mock)
    if refusal:
        fail(refusal)
    bind(host, port, reuse_port=True).close()  # the port is free (or one line and exit 1)
    argv = ["serve", "--host", host, "--port", str(port), "--log-level", log_level]
    argv.append("--reuse-port")
    if config is not None:
        load_config(config)  # a bad file fails here, once, in one line
    raise typer.Exit(supervise(argv, worker_instances(settings.instance, workers), config))


def mock_upstream(
    port: Annotated[int, typer.Option(help="port to bind")] = 9000,
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    latency_ms: Annotated[float, typer.Option("--latency-ms", help="delay per response")] = 0.0,
    fail_rate: Annotated[float, typer.Option("--fail-rate", help="fraction answered 503")] = 0.0,
) -> None:
    """Serve fake OpenAI, Anthropic and Gemini endpoints for demos and tests."""
    from govledger.proxy.fake_upstream.server import run

    run(host, port, latency_ms, fail_rate, sock=bind(host, port))
