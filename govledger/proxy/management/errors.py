"""Refusals of the management API and their one JSON shape.

`{"error": {"code", "message", "problems": [{"field", "message"}], "permission"}}`; the
domain's errors (ledger.commands, ConfigError, pydantic) map to statuses here, so the
routers only call use cases.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson
import psycopg
from eventsourcing.persistence import PersistenceError
from fastapi import FastAPI
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from govledger.ledger import commands
from govledger.ledger.config import ConfigError, describe_errors
from govledger.ledger.credentials import CredentialError
from govledger.ledger.governance import ConcurrentChangeError
from govledger.ledger.money import json_default

log = logging.getLogger("govledger.management")


class ApiError(Exception):
    """A refusal: status, machine code, one-line message, and what it is about."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        problems: Sequence[tuple[str, str]] = (),
        permission: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.problems = list(problems)
        self.permission = permission


class Problem(BaseModel):
    """One bad field: its JSON path (or parameter name) and what is wrong with it."""

    field: str
    message: str


class ErrorDetail(BaseModel):
    """What was refused and why."""

    code: str
    message: str
    problems: list[Problem] | None = None
    permission: str | None = None


class ErrorBody(BaseModel):
    """The body of every refusal of the management API."""

    error: ErrorDetail


REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (401, "No admin token, or one that is not recognised"),
        (403, "The caller's role lacks the permission named in the body"),
        (404, "No such entity"),
        (409, "Already exists, still in use, or changed concurrently"),
        (412, "If-Match names a version that is not the current one"),
        (422, "A field or parameter is unknown or has a bad value"),
        (503, "The ledger or its views cannot be reached now"),
    )
}


class JSONResponse(Response):
    """JSON rendered with orjson; decimals and datetimes as strings."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=json_default)


def error_response(error: ApiError) -> Response:
    """The body and status of a refusal."""
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.problems:
        body["problems"] = [{"field": f, "message": m} for f, m in error.problems]
    if error.permission is not None:
        body["permission"] = error.permission
    return JSONResponse({"error": body}, status_code=error.status)


def invalid(problems: Sequence[tuple[str, str]]) -> ApiError:
    """422 naming each bad field."""
    text = "; ".join(f"{field}: {message}" for field, message in problems)
    return ApiError(422, "invalid_request", text, problems)


def translate(error: Exception, request: Request) -> ApiError:
    """The API refusal for a domain error raised by a use case."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, ConfigError):
        return invalid(error.problems)
    if isinstance(error, ValidationError):
        return invalid(describe_errors(error.errors()))
    if isinstance(error, CredentialError):
        return ApiError(422, "invalid_request", str(error))
    if isinstance(error, commands.NotFoundError):
        return ApiError(404, "not_found", str(error))
    if isinstance(error, commands.AlreadyExistsError):
        return ApiError(409, "already_exists", str(error))
    if isinstance(error, commands.StillInUseError):
        return ApiError(409, "still_in_use", str(error))
    if isinstance(error, commands.StaleVersionError):
        return ApiError(412, "version_mismatch", str(error))
    if isinstance(error, ConcurrentChangeError):
        if request.headers.get("if-match"):  # the version the caller saw is no longer current
            return ApiError(412, "version_mismatch", str(error))
        return ApiError(409, "concurrent_change", str(error))
    if isinstance(error, PersistenceError | sqlite3.Error | psycopg.Error):
        return ApiError(503, "store_unavailable", "the ledger or its views cannot be reached now")
    return ApiError(500, "internal_error", "the gateway failed to handle the call")


def _location(loc: Sequence[Any]) -> list[Any]:
    """Drop FastAPI's `body` / `query` / `path` / `header` head of an error location."""
    return list(loc[1:]) if loc and loc[0] in ("body", "query", "path", "header") else list(loc)


def install_handlers(app: FastAPI) -> None:
    """Map domain errors to the management API's refusals (other paths keep FastAPI's)."""

    async def domain(request: Request, error: Exception) -> Response:
        refusal = translate(error, request)
        if refusal.status >= 500 and not request.url.path.startswith("/api/"):
            log.error("unhandled %s on %s", type(error).__name__, request.url.path, exc_info=error)
            return Response("Internal Server Error", status_code=500, media_type="text/plain")
        return error_response(refusal)

    async def validation(request: Request, error: Exception) -> Response:
        if not isinstance(error, RequestValidationError) or not request.url.path.startswith(
            "/api/"
        ):
            return await request_validation_exception_handler(request, error)  # type: ignore[arg-type]
        items = [{**item, "loc": _location(item["loc"])} for item in error.errors()]
        return error_response(invalid(describe_errors(items)))

    for kind in (
        PersistenceError,
        sqlite3.Error,
        psycopg.Error,
        ApiError,
        ConfigError,
        ValidationError,
        CredentialError,
        commands.CommandError,
        ConcurrentChangeError,
    ):
        app.add_exception_handler(kind, domain)
    app.add_exception_handler(RequestValidationError, validation)
