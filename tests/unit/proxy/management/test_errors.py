"""Domain errors become the management API's refusals, with one body shape."""

from __future__ import annotations

import sqlite3

import orjson
import pytest
from pydantic import ValidationError
from starlette.requests import Request

from govledger.ledger import commands
from govledger.ledger.config import ConfigError, CustomerSpec
from govledger.ledger.governance import ConcurrentChangeError
from govledger.proxy.management.errors import ApiError, error_response, translate


def request(headers: dict[str, str] | None = None) -> Request:
    """A request to a management path with the given headers."""
    raw = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request({"type": "http", "method": "PUT", "path": "/api/x", "headers": raw})


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (commands.NotFoundError("no team 'x'"), 404, "not_found"),
        (commands.AlreadyExistsError("exists"), 409, "already_exists"),
        (commands.StillInUseError("used", [("virtual_key", "k")]), 409, "still_in_use"),
        (commands.StaleVersionError("stale"), 412, "version_mismatch"),
        (ConcurrentChangeError("raced"), 409, "concurrent_change"),
        (sqlite3.OperationalError("database is locked"), 503, "store_unavailable"),
        (RuntimeError("bug"), 500, "internal_error"),
    ],
)
def test_each_domain_error_has_its_status_and_code(
    error: Exception, status: int, code: str
) -> None:
    refusal = translate(error, request())

    assert (refusal.status, refusal.code) == (status, code)


def test_a_concurrent_change_under_if_match_is_a_stale_version() -> None:
    refusal = translate(ConcurrentChangeError("raced"), request({"if-match": '"3"'}))

    assert (refusal.status, refusal.code) == (412, "version_mismatch")


def test_validation_errors_name_each_field_by_its_json_path() -> None:
    with pytest.raises(ValidationError) as caught:
        CustomerSpec.model_validate({"id": "c", "name": "", "budgets": [{"max_limit": "x"}]})

    refusal = translate(caught.value, request())

    assert refusal.status == 422
    assert [field for field, _ in refusal.problems] == [
        "name",
        "budgets[0].max_limit",
        "budgets[0].reset_duration",
    ]


def test_the_body_carries_problems_and_the_permission_only_when_there_are_some() -> None:
    plain = orjson.loads(error_response(ApiError(404, "not_found", "gone")).body)
    denied = orjson.loads(
        error_response(ApiError(403, "permission_denied", "no", permission="teams:view")).body
    )
    invalid = orjson.loads(error_response(translate(ConfigError([("a.b", "bad")]), request())).body)

    assert plain == {"error": {"code": "not_found", "message": "gone"}}
    assert denied["error"]["permission"] == "teams:view"
    assert invalid["error"]["problems"] == [{"field": "a.b", "message": "bad"}]
