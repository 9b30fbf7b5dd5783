"""The ASGI application: `create_app(settings)` wires the runtime into Starlette/FastAPI."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web
from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from govledger import __version__
from govledger.exporters.prometheus import PrometheusExporter, Sources
from govledger.ledger.clock import Clock
from govledger.ledger.config import ConfigFile
from govledger.ledger.heap import freeze_after_start, thaw
from govledger.proxy.enforcement.settlement import Origin
from govledger.proxy.flow.gateway import Gateway, Limits
from govledger.proxy.flow.idempotency import IdempotencyCache
from govledger.proxy.flow.request_flow import Exchange
from govledger.proxy.guardrails.enforce import Guardrails
from govledger.proxy.identity.routes import install as install_identity
from govledger.proxy.management import install as install_management
from govledger.proxy.management.bootstrap import bootstrap_admin_token
from govledger.proxy.mcp.registry import McpRegistry
from govledger.proxy.mcp.service import McpTools
from govledger.proxy.server.clock import SystemClock
from govledger.proxy.server.cluster_metrics import cluster_families
from govledger.proxy.server.route_metrics import route_families
from govledger.proxy.server.runtime import Runtime
from govledger.proxy.server.settings import Settings
from govledger.proxy.server.tracing import Tracing
from govledger.proxy.surfaces.anthropic import AnthropicSurface
from govledger.proxy.surfaces.errors import JSONBytes
from govledger.proxy.surfaces.gemini import GeminiSurface
from govledger.proxy.surfaces.hotpath import Handler, HotPath
from govledger.proxy.surfaces.mcp import McpSurface
from govledger.proxy.surfaces.openai import OpenAISurface
from govledger.proxy.surfaces.unrouted import unrouted
from govledger.proxy.ui.pages import routes as ui_routes
from govledger.proxy.upstream.chain import Upstream


class GatewayApp(FastAPI):
    """FastAPI for management and health; `hot_routes` are served ahead of its middleware."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hot_routes: list[Route] = []
        self.hot_path: HotPath | None = None

    def build_middleware_stack(self) -> ASGIApp:
        """The framework's stack, behind a pure-ASGI dispatcher for the hot routes."""
        routes: dict[tuple[str, str], Handler] = {}
        for route in self.hot_routes:
            for method in route.methods or ():
                routes[(method, route.path)] = route.endpoint
        self.hot_path = HotPath(super().build_middleware_stack(), routes)
        return self.hot_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A hot route straight to its handler, ahead of FastAPI's per-request telemetry
        check (1% of the server's samples; the gateway traces its requests itself)."""
        hot = self.hot_path
        if (
            hot is not None
            and scope["type"] == "http"
            and not self.root_path
            and (scope["method"], scope["path"]) in hot.routes
        ):
            scope["app"] = self
            await hot(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings,
    config: ConfigFile | None = None,
    config_path: Path | None = None,
    mock_socket: socket.socket | None = None,
    on_ready: Callable[[Runtime], None] | None = None,
    clock: Clock | None = None,
    rng: random.Random | None = None,
) -> GatewayApp:
    """Build the app; the store opens and the threads start in the lifespan, not here.

    `mock_socket` is a bound socket for the fake upstream (the caller bound it, so a busy
    port is its error to report); `on_ready` is called once everything has started.
    `clock` is the process's one clock (the system's unless a test injects one); `rng` the
    routing's random source (seeded by tests that count shares).
    """
    runtime = Runtime(settings, clock=clock or SystemClock())
    metrics = PrometheusExporter(
        Sources(
            settings.database_url,
            lambda: runtime.store,
            lambda: runtime.governance.state,
            lambda: runtime.usage,
            settings.metrics_key_budgets,
            runtime.clock.now,
            lambda: (
                route_families(runtime.usage.routes, time.time(), runtime.routing_groups())
                + cluster_families(runtime.allotter, runtime.usage)
            ),
        )
    )
    upstream = Upstream(
        settings.upstream_timeout_s,
        cooling=lambda: runtime.usage.routes.cooling,
        now=lambda: runtime.clock.now().timestamp(),
    )
    tracing = Tracing()  # OTLP traces when the OTEL_* variables configure them
    # The parsed file is applied at the first start and then let go: with 10,000 keys its
    # models are tens of MiB that nothing reads again (the state holds what was applied).
    pending = [config] if config is not None else []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.open()
        gateway.subjects = runtime.subjects  # personal headers sealed from the first request
        if pending:
            runtime.governance.apply(
                pending.pop(), actor=f"file:{config_path or 'config'}", source="config"
            )
            runtime.governance_changed()
        bootstrap_admin_token(runtime.governance, settings.admin_token)
        runtime.resolve_secrets()  # SecretStartupError: one line naming the reference
        runtime.start(asyncio.get_running_loop())
        runtime.writer.listeners.append(metrics.live.on_commit)
        await upstream.start()
        tracing.start()
        mock = await _start_mock(settings.mock_upstream_port, mock_socket, settings.max_body_bytes)
        freeze_after_start()  # no request waits on a full pass over the start-up heap
        if on_ready is not None:
            on_ready(runtime)
        try:
            yield
        finally:
            if mock is not None:
                await mock.cleanup()
            await upstream.stop()
            await guardrails.close()
            await runtime.drain()
            tracing.stop()
            runtime.stop()
            metrics.close()
            thaw()

    # /docs is the UI's own page (Swagger UI served from the gateway, not a CDN); no ReDoc.
    app = GatewayApp(
        title="govledger", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.runtime = runtime
    gateway = Gateway(
        governance=runtime,
        usage=runtime,
        clock=runtime.clock,
        rng=rng or random.Random(),  # noqa: S311 - routing weights, not secrets
        origin=Origin(settings.instance, runtime.incarnation),
        limits=Limits(settings.max_body_bytes, settings.settle_timeout_s),
        allotments=runtime,
    )
    app.state.gateway = gateway
    install_management(app, runtime, gateway)
    install_identity(app)
    mcp = McpTools(gateway, McpRegistry())
    guardrails = Guardrails(runtime)
    exchange = Exchange(
        gateway,
        upstream,
        IdempotencyCache(),
        offer_tools=mcp.offer,
        tracing=tracing,
        guardrails=guardrails,
    )
    surface = OpenAISurface(exchange)
    for prefix in ("/v1", "/openai/v1"):
        app.hot_routes.extend(surface.routes(prefix))
        app.router.routes.extend(surface.routes_with_parameters(prefix))
    anthropic = AnthropicSurface(exchange)
    app.hot_routes.extend(anthropic.routes())
    app.router.routes.extend(anthropic.routes_with_parameters())
    app.router.routes.extend(GeminiSurface(exchange).routes())
    app.router.routes.append(metrics.route())
    app.router.routes.extend(ui_routes())
    app.hot_routes.extend(McpSurface(mcp).routes())
    # The router knows the hot routes too, so a wrong method is a 405 naming the right ones.
    app.router.routes.extend(app.hot_routes)
    app.add_exception_handler(HTTPException, unrouted)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        return JSONBytes({"status": "ok"})

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> Response:
        if not runtime.writer.accepting():  # the writer knows the store is down: say so now
            down = {"ready": False, "store": "unavailable", "kept": runtime.writer.backlog}
            return JSONBytes(down, status_code=503)
        reachable = runtime.writer.answered_within(2.0)  # the writer pings when idle
        if not reachable:
            try:
                await asyncio.wait_for(asyncio.to_thread(runtime.store.max_position, "usage"), 1)
                reachable = True
            except Exception:  # any failure to read the log means not ready
                reachable = False
        body: dict[str, Any] = {
            "ready": reachable,
            "store": "reachable" if reachable else "unreachable",
        }
        degraded = runtime.secrets.degraded()
        if degraded:  # served on the last good values: ready, and saying so
            body["secrets"] = "degraded"
            body["degraded_secrets"] = degraded
        return JSONBytes(body, status_code=200 if reachable else 503)

    return app


async def _start_mock(
    port: int | None, sock: socket.socket | None, gateway_limit: int
) -> web.AppRunner | None:
    """Serve the built-in fake upstream on a port of its own (demo and tests), taking any
    body the gateway may forward."""
    if port is None and sock is None:
        return None
    from govledger.proxy.fake_upstream.server import MAX_BODY_BYTES, build_app  # only if asked

    app = build_app(max_body_bytes=max(MAX_BODY_BYTES, 2 * gateway_limit))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site: web.BaseSite = (
        web.SockSite(runner, sock) if sock is not None else web.TCPSite(runner, "127.0.0.1", port)
    )
    await site.start()
    return runner
