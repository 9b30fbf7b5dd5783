"""The Anthropic surface: `POST /anthropic/v1/messages`, plain and streaming.

The SDK appends `/v1/messages` to `base_url=http://host/anthropic`. The virtual key comes
as `x-api-key` or `Authorization: Bearer` (anthropic 2.x sends its `api_key` that way).
Thin: parse into a Call and hand it to the exchange; errors in Anthropic's shape.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from proxy.errors import anthropic_error
from proxy.exchange import Dialect, Exchange
from proxy.gateway import Call
from proxy.surfaces.bodies import model_of, pinned, read_object, required, safe_model, shaped

SURFACE = "anthropic_messages"
DIALECT = Dialect(error=anthropic_error, cost_note=True, id_header="request-id")


class AnthropicSurface:
    """Handlers for the Anthropic Messages wire format."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.gateway = exchange.gateway

    def routes(self) -> list[Route]:
        """The routes this surface serves."""
        return [Route("/anthropic/v1/messages", self.messages, methods=["POST"])]

    async def parse(self, request: Request) -> Call:
        """Read and check the body; GatewayError 400 (413 if too large) naming what is wrong."""
        runtime = self.gateway.runtime
        body = await read_object(request, runtime.settings.max_body_bytes, too_large=413)
        model = model_of(body)
        required(body, "messages", list)
        required(body, "max_tokens", int)
        shaped(body, SURFACE)
        safe_model(model)
        provider, bare = pinned(model, runtime.state)
        return Call(
            surface=SURFACE,
            model=bare,
            body=body,
            stream=bool(body.get("stream")),
            headers=request.headers,
            pinned_provider=provider,
        )

    async def messages(self, request: Request) -> Response:
        """One Messages request, from body to settled response."""
        return await self.exchange.handle(request, SURFACE, self.parse, DIALECT)
