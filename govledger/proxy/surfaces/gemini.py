"""The Gemini surface: `POST /genai/{v1beta|v1}/models/{model}:generateContent` and
`:streamGenerateContent?alt=sse`, and `GET .../models[/{model}]` (the models the key may use).

google-genai 1.x calls v1beta and 3.x calls v1; both are served, and a Gemini provider is
called with the client's version. The virtual key comes as `x-goog-api-key` or `?key=`.
Thin: parse into a Call and hand it to the exchange; errors in Google's shape.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from govledger.proxy.enforcement.cost import max_output_tokens
from govledger.proxy.flow.gateway import Call
from govledger.proxy.flow.request_flow import Dialect, Exchange
from govledger.proxy.surfaces.bodies import pinned, read_object, required, safe_model, shaped
from govledger.proxy.surfaces.errors import GatewayError, JSONBytes, google_error
from govledger.proxy.surfaces.models import Offered, authorize, offered, price_known, usable

SURFACE = "gemini"
VERSIONS = ("v1beta", "v1")
METHODS = ("generateContent", "streamGenerateContent")
# No cost comment in streams: google-genai reads every non-`data:` line as JSON.
DIALECT = Dialect(error=google_error, cost_note=False)


class GeminiSurface:
    """Handlers for the Gemini generateContent wire format."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.gateway = exchange.gateway

    def routes(self) -> list[Route]:
        """The routes this surface serves (path parameters: not for the exact-path hot path)."""
        return [
            Route("/genai/{version}/models/{target:path}", self.generate, methods=["POST"]),
            Route("/genai/{version}/models", self.models, methods=["GET"]),
            Route("/genai/{version}/models/{target:path}", self.model, methods=["GET"]),
        ]

    async def parse(self, request: Request) -> Call:
        """Read the path, key and body; GatewayError 400/404 naming what is wrong."""
        version = request.path_params["version"]
        model, _, method = str(request.path_params["target"]).rpartition(":")
        if version not in VERSIONS or method not in METHODS or not model:
            where = f"{version}/models/{model}:{method}"
            shown = where if len(where) <= 120 else where[:120] + "..."
            raise GatewayError(404, "not_found", f"no such method: {shown}")
        stream = method == "streamGenerateContent"
        if stream and request.query_params.get("alt") != "sse":
            raise GatewayError(
                400,
                "stream_format_unsupported",
                "streamGenerateContent is served as server-sent events only: add ?alt=sse",
                param="alt",
                level="request",
            )
        headers = _with_key(request)
        gateway = self.gateway
        body = await read_object(request, gateway.max_body_bytes)
        required(body, "contents", list)
        shaped(body, SURFACE)
        name = model.removeprefix("models/")
        safe_model(name)
        provider, bare = pinned(name, gateway.governance.state)
        safe_model(bare, slash=False)  # it goes into the upstream's URL path
        return Call(
            surface=SURFACE,
            model=bare,
            body=body,
            stream=stream,
            headers=headers,
            pinned_provider=provider,
            api_version=version,
        )

    async def generate(self, request: Request) -> Response:
        """One generateContent or streamGenerateContent request."""
        return await self.exchange.handle(request, SURFACE, self.parse, DIALECT)

    async def models(self, request: Request) -> Response:
        """The models the key may use, in Google's list shape (`pageSize`, `pageToken`);
        names are `models/provider/model`."""
        request_id = uuid.uuid4().hex
        try:
            _version(request)
            policy = authorize(self.gateway, _with_key(request), request_id)
            found = offered(policy, self.gateway.governance.prices.catalogue)
            start, size = _page(request.query_params, len(found))
        except GatewayError as error:
            return google_error(error, request_id)
        body: dict[str, Any] = {
            "models": [_model(o.pinned, o) for o in found[start : start + size]]
        }
        if start + size < len(found):
            body["nextPageToken"] = str(start + size)
        return JSONBytes(body, headers={"x-govledger-request-id": request_id})

    async def model(self, request: Request) -> Response:
        """One model the key may use (`models/gemini-2.5-flash` or with its provider)."""
        request_id = uuid.uuid4().hex
        name = str(request.path_params["target"]).removeprefix("models/")
        try:
            _version(request)
            policy = authorize(self.gateway, _with_key(request), request_id)
            provider, bare = pinned(name, self.gateway.governance.state)
            found = usable(policy, bare, provider, price_known(self.gateway))
            if found is None:
                raise GatewayError(
                    404,
                    "model_not_found",
                    f"models/{name} does not exist or this key may not use it",
                )
        except GatewayError as error:
            return google_error(error, request_id)
        return JSONBytes(_model(name, found), headers={"x-govledger-request-id": request_id})


def _version(request: Request) -> None:
    version = request.path_params["version"]
    if version not in VERSIONS:
        raise GatewayError(404, "not_found", f"no such API version: {version}")


def _with_key(request: Request) -> dict[str, str]:
    """The request's headers, with `?key=` as `x-goog-api-key` when that header is absent."""
    headers = dict(request.headers)
    key = request.query_params.get("key")
    if key and "x-goog-api-key" not in headers:
        headers["x-goog-api-key"] = key
    return headers


def _page(query: Mapping[str, str], total: int) -> tuple[int, int]:
    """(start, size) of the page `pageToken` and `pageSize` (1-1000, default 50) ask for."""
    size, token = query.get("pageSize", "50"), query.get("pageToken", "0") or "0"
    if not size.isdigit() or not 1 <= int(size) <= 1000:
        raise GatewayError(400, "invalid_page_size", "`pageSize` must be from 1 to 1000")
    if not token.isdigit() or int(token) > total:
        raise GatewayError(400, "invalid_page_token", "`pageToken` is not one this list gave")
    return int(token), int(size)


def _model(name: str, found: Offered) -> dict[str, Any]:
    model: dict[str, Any] = {
        "name": f"models/{name}",
        "baseModelId": found.model,
        "version": "gateway",
        "displayName": found.model,
        "description": f"{found.model} via {found.provider} ({found.provider_type})",
        "supportedGenerationMethods": list(METHODS),
    }
    limit = max_output_tokens(found.provider_type, found.model)
    if limit is not None:
        model["outputTokenLimit"] = limit
    return model
