"""The Gemini surface: `POST /genai/{v1beta|v1}/models/{model}:generateContent` and
`:streamGenerateContent?alt=sse`.

google-genai 1.x calls v1beta and 3.x calls v1; both are served, and a Gemini provider is
called with the client's version. The virtual key comes as `x-goog-api-key` or `?key=`.
Thin: parse into a Call and hand it to the exchange; errors in Google's shape.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from proxy.errors import GatewayError, google_error
from proxy.exchange import Dialect, Exchange
from proxy.gateway import Call
from proxy.surfaces.bodies import pinned, read_object, required, safe_model, shaped

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
        return [Route("/genai/{version}/models/{target:path}", self.generate, methods=["POST"])]

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
        headers = dict(request.headers)
        key = request.query_params.get("key")
        if key and "x-goog-api-key" not in headers:
            headers["x-goog-api-key"] = key
        runtime = self.gateway.runtime
        body = await read_object(request, runtime.settings.max_body_bytes)
        required(body, "contents", list)
        shaped(body, SURFACE)
        name = model.removeprefix("models/")
        safe_model(name)
        provider, bare = pinned(name, runtime.state)
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
