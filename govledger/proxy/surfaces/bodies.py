"""Reading a request body the same way on every surface: size limit, JSON object, model."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from govledger.ledger.entities import GovernanceState
from govledger.proxy.surfaces.errors import GatewayError
from govledger.proxy.surfaces.shape import SHAPES, ShapeError, check_body, check_model

# The code of a body the client stopped sending: an ordinary refusal, logged at debug.
CLIENT_DISCONNECTED = "client_disconnected"


async def read_object(request: Request, limit: int, too_large: int = 400) -> dict[str, Any]:
    """The body as a JSON object; GatewayError over `limit` bytes (status `too_large`: 400 as
    OpenAI and Google answer, 413 on the Anthropic surface, as Anthropic does) or not an object.
    """
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise GatewayError(
            too_large, "request_too_large", f"the body is over {limit} bytes", level="request"
        )
    chunks, size = [], 0
    try:
        async for chunk in request.stream():  # a chunked body is cut off at the limit
            size += len(chunk)
            if size > limit:
                raise GatewayError(
                    too_large,
                    "request_too_large",
                    f"the body is over {limit} bytes",
                    level="request",
                )
            chunks.append(chunk)
    except ClientDisconnect:
        raise GatewayError(
            400,
            CLIENT_DISCONNECTED,
            f"the client disconnected after {size} bytes of the body",
            level="request",
        ) from None
    raw = b"".join(chunks)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise GatewayError(
            400, "invalid_json", f"the body is not valid JSON: {error}", level="request"
        ) from None
    if not isinstance(body, dict):
        raise GatewayError(
            400, "invalid_request", "the body must be a JSON object", level="request"
        )
    return body


def required(body: dict[str, Any], field: str, kind: type | None = None) -> Any:
    """A field that must be present and non-empty (and of `kind`); else GatewayError 400."""
    value = body.get(field)
    if value in (None, "", []):
        raise GatewayError(
            400, f"missing_{field}", f"`{field}` is required", param=field, level="request"
        )
    if kind is not None and not isinstance(value, kind):
        raise GatewayError(
            400,
            f"invalid_{field}",
            f"`{field}` must be a {kind.__name__}",
            param=field,
            level="request",
        )
    return value


def model_of(body: dict[str, Any]) -> str:
    """The body's `model`, a non-empty string; else GatewayError 400 `missing_model`."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise GatewayError(
            400, "missing_model", "`model` is required (a string)", param="model", level="request"
        )
    return model


def pinned(model: str, state: GovernanceState) -> tuple[str | None, str]:
    """`provider/model` names a configured provider: (provider, model); else (None, model)."""
    if "/" in model:
        head, rest = model.split("/", 1)
        if state.get("provider", head) is not None:
            return head, rest
    return None, model


def shaped(body: dict[str, Any], surface: str) -> None:
    """GatewayError 400 `invalid_<field>` naming the JSON path where `body` breaks the
    vendor's shape (see `shape`); the bounds of docs/surfaces.md included."""
    try:
        check_body(body, SHAPES[surface])
    except ShapeError as error:
        raise _refused(error) from None


def safe_model(model: str, slash: bool = True, path: str = "model") -> None:
    """GatewayError 400 `invalid_model` unless `model` is a safe model name."""
    try:
        check_model(model, path, slash)
    except ShapeError as error:
        raise _refused(error) from None


def _refused(error: ShapeError) -> GatewayError:
    return GatewayError(
        400, f"invalid_{error.field}", str(error), param=error.path, level="request"
    )
