"""The Anthropic surface: `POST /anthropic/v1/messages` (plain and streaming),
`/v1/messages/count_tokens` (the estimator's upper bound) and `GET /v1/models[/{id}]`.

The SDK appends `/v1/messages` to `base_url=http://host/anthropic`. The virtual key comes
as `x-api-key` or `Authorization: Bearer` (anthropic 2.x sends its `api_key` that way).
Thin: parse into a Call and hand it to the exchange; errors in Anthropic's shape.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from govledger.proxy.enforcement.estimate import UnboundableInputError, input_token_bound
from govledger.proxy.flow.gateway import Call
from govledger.proxy.flow.request_flow import Dialect, Exchange
from govledger.proxy.surfaces.bodies import (
    model_of,
    pinned,
    read_object,
    required,
    safe_model,
    shaped,
)
from govledger.proxy.surfaces.errors import GatewayError, JSONBytes, anthropic_error
from govledger.proxy.surfaces.models import authorize, offered, price_known, usable

SURFACE = "anthropic_messages"
DIALECT = Dialect(error=anthropic_error, cost_note=True, id_header="request-id")
_EPOCH = "1970-01-01T00:00:00Z"  # the gateway knows no release dates


class AnthropicSurface:
    """Handlers for the Anthropic Messages wire format."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.gateway = exchange.gateway

    def routes(self) -> list[Route]:
        """The routes this surface serves."""
        return [
            Route("/anthropic/v1/messages", self.messages, methods=["POST"]),
            Route("/anthropic/v1/messages/count_tokens", self.count_tokens, methods=["POST"]),
            Route("/anthropic/v1/models", self.models, methods=["GET"]),
        ]

    def routes_with_parameters(self) -> list[Route]:
        """Routes with path parameters (served by the router, not the exact-path hot path)."""
        return [Route("/anthropic/v1/models/{model:path}", self.model, methods=["GET"])]

    async def parse(self, request: Request) -> Call:
        """Read and check the body; GatewayError 400 (413 if too large) naming what is wrong."""
        gateway = self.gateway
        body = await read_object(request, gateway.max_body_bytes, too_large=413)
        model = model_of(body)
        required(body, "messages", list)
        required(body, "max_tokens", int)
        shaped(body, SURFACE)
        safe_model(model)
        provider, bare = pinned(model, gateway.governance.state)
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

    async def count_tokens(self, request: Request) -> Response:
        """`{"input_tokens": N}`: the gateway's tokenizer-free upper bound of the input tokens
        (what admission reserves), not the model's own count; nothing is recorded."""
        request_id = uuid.uuid4().hex
        gateway = self.gateway
        try:
            policy = authorize(self.gateway, request.headers, request_id)
            body = await read_object(request, gateway.max_body_bytes, too_large=413)
            model = model_of(body)
            required(body, "messages", list)
            provider, bare = pinned(model, gateway.governance.state)
            if usable(policy, bare, provider, price_known(self.gateway)) is None:
                raise GatewayError(
                    403,
                    "model_blocked",
                    f"model {model!r} is not allowed for this key",
                    param="model",
                    level="virtual_key",
                )
            try:
                tokens = input_token_bound(body, SURFACE)
            except UnboundableInputError as error:
                raise GatewayError(400, "input_not_bounded", str(error), level="request") from None
            except ValueError as error:
                raise GatewayError(400, "invalid_request", str(error), level="request") from None
        except GatewayError as error:
            return anthropic_error(error, request_id)
        headers = {**_ids(request_id), "x-govledger-token-count": "upper-bound"}
        return JSONBytes({"input_tokens": tokens}, headers=headers)

    async def models(self, request: Request) -> Response:
        """The models the key may use, in Anthropic's page shape (`limit`, `after_id`,
        `before_id`); ids are `provider/model`."""
        request_id = uuid.uuid4().hex
        try:
            policy = authorize(self.gateway, request.headers, request_id)
            ids = [o.pinned for o in offered(policy, self.gateway.governance.prices.catalogue)]
            shown, more = page(ids, request.query_params)
        except GatewayError as error:
            return anthropic_error(error, request_id)
        body = {
            "data": [_model(name) for name in shown],
            "has_more": more,
            "first_id": shown[0] if shown else None,
            "last_id": shown[-1] if shown else None,
        }
        return JSONBytes(body, headers=_ids(request_id))

    async def model(self, request: Request) -> Response:
        """One model the key may use (bare or `provider/model`); else 404 `not_found_error`."""
        request_id = uuid.uuid4().hex
        name = str(request.path_params["model"])
        try:
            policy = authorize(self.gateway, request.headers, request_id)
            provider, bare = pinned(name, self.gateway.governance.state)
            if usable(policy, bare, provider, price_known(self.gateway)) is None:
                raise GatewayError(
                    404,
                    "model_not_found",
                    f"the model {name!r} does not exist or this key may not use it",
                )
        except GatewayError as error:
            return anthropic_error(error, request_id)
        return JSONBytes(_model(name), headers=_ids(request_id))


def page(ids: list[str], query: Mapping[str, str]) -> tuple[list[str], bool]:
    """One page of ids after `after_id` or before `before_id`, at most `limit` (1-1000, 20)."""
    raw = query.get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise GatewayError(400, "invalid_limit", "`limit` must be an integer from 1 to 1000")
    limit = int(raw)
    for name in ("after_id", "before_id"):
        if query.get(name) is not None and query[name] not in ids:
            raise GatewayError(400, f"invalid_{name}", f"`{name}` names no listed model")
    if "before_id" in query:
        end = ids.index(query["before_id"])
        return ids[max(0, end - limit) : end], end - limit > 0
    start = ids.index(query["after_id"]) + 1 if "after_id" in query else 0
    return ids[start : start + limit], start + limit < len(ids)


def _model(name: str) -> dict[str, Any]:
    return {"type": "model", "id": name, "display_name": name, "created_at": _EPOCH}


def _ids(request_id: str) -> dict[str, str]:
    return {"x-govledger-request-id": request_id, "request-id": request_id}
