"""Inference routes served before the framework's middleware layers (pure ASGI)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from govledger.proxy.surfaces.errors import GatewayError, openai_error

log = logging.getLogger("govledger.hotpath")

Handler = Callable[[Request], Awaitable[Response]]


class HotPath:
    """Dispatch (method, path) matches straight to their handlers; everything else goes on.

    The management API keeps FastAPI's full stack; a proxied request skips seven layers
    (telemetry, body limit, exception handling, exit stacks, routing) it does not use.
    """

    def __init__(self, app: ASGIApp, routes: dict[tuple[str, str], Handler]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            handler = self.routes.get((scope["method"], scope["path"]))
            if handler is not None:
                try:
                    response = await handler(Request(scope, receive))
                except ClientDisconnect:  # gone before its request was read (e.g. too slow)
                    log.info("the client left before its request was read: %s", scope["path"])
                    return
                except Exception:  # never a traceback to the client
                    log.exception("unhandled error on %s", scope["path"])
                    error = GatewayError(
                        500, "internal_error", "the gateway failed on this request"
                    )
                    response = openai_error(error)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
