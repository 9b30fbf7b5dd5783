"""Gateway errors and their bodies in each surface's wire format."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
from starlette.responses import Response

OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    502: "api_error",
    503: "api_error",
}


@dataclass
class GatewayError(Exception):
    """A refusal or failure the client sees: status, code, message and extra headers."""

    status: int
    code: str
    message: str
    param: str | None = None
    level: str = "gateway"
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


class JSONBytes(Response):
    """A JSON response rendered with orjson."""

    media_type = "application/json"

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)


def openai_error(error: GatewayError, request_id: str | None = None) -> Response:
    """The OpenAI error body `{"error": {"message", "type", "param", "code"}}`."""
    headers = dict(error.headers)
    if request_id:
        headers["x-govledger-request-id"] = request_id
    if error.status in (400, 401, 402, 403, 404, 405, 422):
        headers.setdefault("x-should-retry", "false")
    body = {
        "error": {
            "message": error.message,
            "type": OPENAI_TYPES.get(error.status, "api_error"),
            "param": error.param,
            "code": error.code,
        }
    }
    return JSONBytes(body, status_code=error.status, headers=headers)


ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
GOOGLE_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    402: "RESOURCE_EXHAUSTED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
}
_NO_RETRY = (400, 401, 402, 403, 404, 405, 413, 422)


def _headers(error: GatewayError, request_id: str | None) -> dict[str, str]:
    headers = dict(error.headers)
    headers["x-govledger-error-code"] = error.code
    if request_id:
        headers["x-govledger-request-id"] = request_id
    if error.status in _NO_RETRY:
        headers.setdefault("x-should-retry", "false")
    return headers


def anthropic_error(error: GatewayError, request_id: str | None = None) -> Response:
    """Anthropic's error body `{"type": "error", "error": {"type", "message", "details":
    {"error_code"}}}`, with the `request-id` header its SDK reports."""
    headers = _headers(error, request_id)
    if request_id:
        headers["request-id"] = request_id
    kind = ANTHROPIC_TYPES.get(error.status)
    if kind is None:
        kind = "invalid_request_error" if error.status < 500 else "api_error"
    body = {
        "type": "error",
        "error": {"type": kind, "message": error.message, "details": {"error_code": error.code}},
        "request_id": request_id,
    }
    return JSONBytes(body, status_code=error.status, headers=headers)


def google_error(error: GatewayError, request_id: str | None = None) -> Response:
    """Google's error body `{"error": {"code", "message", "status", "details"}}`; the
    gateway's code is the reason of an ErrorInfo detail."""
    status = GOOGLE_STATUSES.get(error.status)
    if status is None:
        status = "FAILED_PRECONDITION" if error.status < 500 else "INTERNAL"
    info = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": error.code,
        "domain": "govledger",
    }
    body = {
        "error": {
            "code": error.status,
            "message": error.message,
            "status": status,
            "details": [info],
        }
    }
    return JSONBytes(body, status_code=error.status, headers=_headers(error, request_id))
