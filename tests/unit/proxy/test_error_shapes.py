"""Error bodies in each SDK's shape raise that SDK's own exception for each status."""

from __future__ import annotations

import anthropic
import httpx2
import pytest
from google.genai import errors as genai_errors

from govledger.proxy.surfaces.errors import GatewayError, anthropic_error, google_error

ANTHROPIC = [
    (400, anthropic.BadRequestError, "invalid_request_error"),
    (401, anthropic.AuthenticationError, "authentication_error"),
    (402, anthropic.PaymentRequiredError, "billing_error"),
    (403, anthropic.PermissionDeniedError, "permission_error"),
    (413, anthropic.ContentTooLargeError, "request_too_large"),
    (429, anthropic.RateLimitError, "rate_limit_error"),
    (502, anthropic.InternalServerError, "api_error"),
    (503, anthropic.ServiceUnavailableError, "api_error"),
]


@pytest.mark.parametrize(("status", "exception", "kind"), ANTHROPIC)
def test_an_anthropic_error_body_raises_the_sdks_exception(
    status: int, exception: type[anthropic.APIStatusError], kind: str
) -> None:
    response = anthropic_error(GatewayError(status, "some_code", "why"), "rid-1")
    http = httpx2.Response(
        status,
        content=bytes(response.body),
        headers=dict(response.headers),
        request=httpx2.Request("POST", "http://gw/anthropic/v1/messages"),
    )
    with anthropic.Anthropic(api_key="x", base_url="http://gw/anthropic") as sdk:
        error = sdk._make_status_error_from_response(http)
    assert type(error) is exception
    assert error.request_id == "rid-1"
    assert error.body == {
        "type": "error",
        "error": {"type": kind, "message": "why", "details": {"error_code": "some_code"}},
        "request_id": "rid-1",
    }


@pytest.mark.parametrize(
    ("status", "name", "exception"),
    [
        (400, "INVALID_ARGUMENT", genai_errors.ClientError),
        (401, "UNAUTHENTICATED", genai_errors.ClientError),
        (402, "RESOURCE_EXHAUSTED", genai_errors.ClientError),
        (403, "PERMISSION_DENIED", genai_errors.ClientError),
        (429, "RESOURCE_EXHAUSTED", genai_errors.ClientError),
        (502, "UNAVAILABLE", genai_errors.ServerError),
        (503, "UNAVAILABLE", genai_errors.ServerError),
    ],
)
def test_a_google_error_body_raises_the_sdks_error(
    status: int, name: str, exception: type[genai_errors.APIError]
) -> None:
    response = google_error(GatewayError(status, "some_code", "why"), "rid-1")
    http = httpx2.Response(status, content=bytes(response.body), headers=dict(response.headers))
    with pytest.raises(exception) as caught:
        genai_errors.APIError.raise_for_response(http)
    assert (caught.value.code, caught.value.status, caught.value.message) == (status, name, "why")
    assert caught.value.details["error"]["details"][0]["reason"] == "some_code"
    assert response.headers["x-govledger-request-id"] == "rid-1"
