"""Requests no route serves (unknown path, wrong method): answered in the error shape of the
surface the path belongs to, never the framework's `{"detail": ...}`.

`/v1`, `/openai/v1` -> OpenAI; `/anthropic` -> Anthropic; `/genai` -> Google; `/api` and
anything else -> the management API's `{"error": {"code", "message"}}`.
"""

from __future__ import annotations

import uuid

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from govledger.proxy.flow.request_flow import ErrorBody
from govledger.proxy.management.errors import ApiError, error_response
from govledger.proxy.surfaces.errors import (
    GatewayError,
    anthropic_error,
    google_error,
    openai_error,
)

SURFACES: tuple[tuple[str, ErrorBody], ...] = (
    ("/v1", openai_error),
    ("/openai/v1", openai_error),
    ("/anthropic", anthropic_error),
    ("/genai", google_error),
)


def surface_error(path: str) -> ErrorBody | None:
    """The error body of the surface a path belongs to; None outside the surfaces."""
    for prefix, body in SURFACES:
        if path == prefix or path.startswith(prefix + "/"):
            return body
    return None


def refusal(request: Request, status: int, detail: str | None) -> GatewayError:
    """What to tell the client about a request the router could not serve."""
    method, path = request.method, request.url.path
    if status == 404:
        return GatewayError(404, "unknown_route", f"no such route: {method} {path}")
    if status == 405:
        return GatewayError(
            405, "method_not_allowed", f"{method} is not allowed on {path}", level="request"
        )
    return GatewayError(status, f"http_{status}", detail or f"HTTP {status} on {path}")


async def unrouted(request: Request, error: Exception) -> Response:
    """The exception handler of Starlette's HTTPException (404, 405, ...)."""
    assert isinstance(error, HTTPException)  # noqa: S101 - registered for this type only
    refused = refusal(request, error.status_code, error.detail)
    if error.headers and "allow" in {k.lower() for k in error.headers}:
        refused.headers["allow"] = next(v for k, v in error.headers.items() if k.lower() == "allow")
    shape = surface_error(request.url.path)
    if shape is not None:
        return shape(refused, uuid.uuid4().hex)
    answer = error_response(ApiError(refused.status, refused.code, refused.message))
    answer.headers.update(refused.headers)
    return answer
