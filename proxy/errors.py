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
    if error.status in (402, 403, 401, 400, 404, 422):
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
