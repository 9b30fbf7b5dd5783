"""The OpenAI surface: chat completions, responses, embeddings and models.

Thin: parse the wire format into a Call and hand it to the exchange, which answers errors
in OpenAI's error body. No budget, limit, routing or translation rule lives here.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from govledger.proxy.flow.gateway import Call
from govledger.proxy.flow.request_flow import Dialect, Exchange
from govledger.proxy.surfaces.bodies import model_of, pinned, read_object, safe_model, shaped
from govledger.proxy.surfaces.errors import GatewayError, JSONBytes, openai_error
from govledger.proxy.surfaces.models import authorize, offered, price_known, usable

REQUIRED = {"openai_chat": "messages", "openai_responses": "input", "openai_embeddings": "input"}
DIALECT = Dialect(error=openai_error, cost_note=True)


class OpenAISurface:
    """Handlers for the OpenAI wire format, bound to one gateway."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.gateway = exchange.gateway

    def routes(self, prefix: str) -> list[Route]:
        """Routes mounted under a prefix (`/v1` and `/openai/v1`)."""

        def endpoint(surface: str) -> Any:
            async def handle(request: Request) -> Response:
                return await self.handle(request, surface)

            return handle

        return [
            Route(f"{prefix}/chat/completions", endpoint("openai_chat"), methods=["POST"]),
            Route(f"{prefix}/responses", endpoint("openai_responses"), methods=["POST"]),
            Route(f"{prefix}/embeddings", endpoint("openai_embeddings"), methods=["POST"]),
            Route(f"{prefix}/models", self.models, methods=["GET"]),
        ]

    def routes_with_parameters(self, prefix: str) -> list[Route]:
        """Routes with path parameters (served by the router, not the exact-path hot path)."""
        return [Route(f"{prefix}/models/{{model:path}}", self.model, methods=["GET"])]

    async def parse(self, request: Request, surface: str) -> Call:
        """Read and check the body; GatewayError 400 naming what is wrong."""
        gateway = self.gateway
        body = await read_object(request, gateway.max_body_bytes)
        model = model_of(body)
        field = REQUIRED[surface]
        if field not in body or body[field] in (None, "", []):
            raise GatewayError(
                400, f"missing_{field}", f"`{field}` is required", param=field, level="request"
            )
        if surface == "openai_chat" and not isinstance(body["messages"], list):
            raise GatewayError(
                400,
                "invalid_messages",
                "`messages` must be a list",
                param="messages",
                level="request",
            )
        shaped(body, surface)
        safe_model(model)
        provider, bare = pinned(model, gateway.governance.state)
        return Call(
            surface=surface,
            model=bare,
            body=body,
            stream=bool(body.get("stream")) and surface != "openai_embeddings",
            headers=request.headers,
            pinned_provider=provider,
        )

    async def handle(self, request: Request, surface: str) -> Response:
        """One inference request, from body to settled response."""

        async def parse(request: Request) -> Call:
            return await self.parse(request, surface)

        return await self.exchange.handle(request, surface, parse, DIALECT)

    async def models(self, request: Request) -> Response:
        """The models the caller's key may use, in OpenAI's list shape (`provider/model` ids,
        `*` expanded from the price catalogue of each route's provider type)."""
        request_id = uuid.uuid4().hex
        try:
            policy = authorize(self.gateway, request.headers, request_id)
        except GatewayError as error:
            return openai_error(error, request_id)
        found = offered(policy, self.gateway.governance.prices.catalogue)
        data = [_model(item.pinned, item.provider) for item in found]
        headers = {"x-govledger-request-id": request_id}
        return JSONBytes({"object": "list", "data": data}, headers=headers)

    async def model(self, request: Request) -> Response:
        """One model the key may use (`gpt-4o-mini` or `provider/gpt-4o-mini`); else 404."""
        request_id = uuid.uuid4().hex
        name = str(request.path_params["model"])
        try:
            policy = authorize(self.gateway, request.headers, request_id)
            provider, bare = pinned(name, self.gateway.governance.state)
            found = usable(policy, bare, provider, price_known(self.gateway))
            if found is None:
                raise GatewayError(
                    404,
                    "model_not_found",
                    f"the model {name!r} does not exist or this key may not use it",
                    param="model",
                )
        except GatewayError as error:
            return openai_error(error, request_id)
        headers = {"x-govledger-request-id": request_id}
        return JSONBytes(_model(name, found.provider), headers=headers)


def _model(model_id: str, provider: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": provider}
