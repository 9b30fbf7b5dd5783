"""Unknown routes and wrong methods answer in the error shape of the surface the path
belongs to (OpenAI, Anthropic, Google, the management API), never `{"detail": ...}`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from google.genai import errors as genai_errors

from tests.conftest import RunningGateway
from tests.e2e.openai_support import KEY, client, make_config, module_gateway, raw_request
from tests.e2e.vendor_support import anthropic_client, gemini_client


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """One gateway for the module (nothing here reaches the ledger)."""
    with module_gateway(tmp_path_factory, make_config()) as running:
        yield running


def openai_shape(body: dict[str, Any]) -> str:
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    return str(body["error"]["code"])


def anthropic_shape(body: dict[str, Any]) -> str:
    assert body["type"] == "error", body
    assert set(body["error"]) == {"type", "message", "details"}, body
    return str(body["error"]["details"]["error_code"])


def google_shape(body: dict[str, Any]) -> str:
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "status", "details"}, body
    return str(body["error"]["details"][0]["reason"])


def management_shape(body: dict[str, Any]) -> str:
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]) <= {"code", "message", "problems"}, body
    return str(body["error"]["code"])


CASES = [
    ("GET", "/v1/nothing", 404, openai_shape),
    ("POST", "/v1/images/generations", 404, openai_shape),
    ("GET", "/v1", 404, openai_shape),
    ("GET", "/openai/v1/nothing", 404, openai_shape),
    ("GET", "/v1/chat/completions", 405, openai_shape),
    ("DELETE", "/openai/v1/embeddings", 405, openai_shape),
    ("POST", "/v1/models", 405, openai_shape),
    ("GET", "/anthropic/v1/complete", 404, anthropic_shape),
    ("GET", "/anthropic/v1/messages", 405, anthropic_shape),
    ("GET", "/genai/v1beta/cachedContents", 404, google_shape),
    ("DELETE", "/genai/v1beta/models/m1:generateContent", 405, google_shape),
    ("GET", "/api/nothing", 404, management_shape),
    ("POST", "/api/audit/events", 405, management_shape),
    ("GET", "/nothing", 404, management_shape),
    ("POST", "/healthz", 405, management_shape),
]


@pytest.mark.parametrize(("method", "path", "status", "shape"), CASES)
def test_unserved_requests_answer_in_the_surface_shape(
    gateway: RunningGateway, method: str, path: str, status: int, shape: Any
) -> None:
    headers = {"authorization": f"Bearer {KEY}"}
    answer = raw_request(gateway, path, b"{}", headers, method=method)
    assert answer.status == status, answer.body
    assert answer.headers["content-type"].startswith("application/json")
    assert b'"detail"' not in answer.body
    code = shape(answer.json())
    assert code == ("unknown_route" if status == 404 else "method_not_allowed")
    if status == 405:
        assert answer.headers["allow"]
    if path.startswith(("/v1", "/openai", "/anthropic", "/genai")):
        assert len(answer.headers["x-govledger-request-id"]) == 32
        assert answer.headers["x-should-retry"] == "false"


def test_the_sdks_raise_their_own_not_found_errors(gateway: RunningGateway) -> None:
    with client(gateway) as sdk, pytest.raises(openai.NotFoundError) as caught:
        sdk.get("/fine_tuning/jobs", cast_to=object)
    assert caught.value.code == "unknown_route"
    with anthropic_client(gateway) as vendor, pytest.raises(anthropic.NotFoundError) as found:
        vendor.get("/v1/files", cast_to=object)
    assert found.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    gemini = gemini_client(gateway, "v1beta")
    with pytest.raises(genai_errors.ClientError) as refused:
        gemini.caches.list()
    assert (refused.value.code, refused.value.status) == (404, "NOT_FOUND")
