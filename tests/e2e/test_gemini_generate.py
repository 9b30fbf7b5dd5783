"""The Gemini surface through the official google-genai SDK: v1beta and v1, plain and
streaming, key from x-goog-api-key or ?key=, usage from the last usageMetadata (thoughts
and tool-use prompts included), cost, and every error outcome in Google's shape."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import orjson
import pytest
from aiohttp import web
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from govledger.ledger import events as ev
from tests.conftest import RunningGateway, mock_stats, start_gateway
from tests.e2e.openai_support import (
    HELLO,
    budget,
    flush_ledger,
    of_type,
    raw_request,
    serve,
    settled_for,
    virtual_key,
)
from tests.e2e.vendor_support import GEMINI_KEY, cost, gemini_client, priced_config, vendor

Factory = Callable[..., RunningGateway]
BUDGET_KEY = "sk-bf-e2e-gemini-budget-01"
LIMITED_KEY = "sk-bf-e2e-gemini-limited-1"
NARROW_KEY = "sk-bf-e2e-gemini-narrow-01"
VERSIONS = ("v1beta", "v1")

# google-genai's async client subclasses aiohttp.ClientSession, which aiohttp deprecates.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession from ClientSession:DeprecationWarning"
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """One gateway for the tests below (they tell their requests apart by id)."""
    tmp = tmp_path_factory.mktemp("gemini")
    keys = [
        virtual_key("k1", GEMINI_KEY, providers=("gemini",)),
        virtual_key("poor", BUDGET_KEY, providers=("gemini",), budgets=[budget("0.000001")]),
        virtual_key(
            "limited",
            LIMITED_KEY,
            providers=("gemini",),
            rate_limit={"request_max_limit": 1, "request_reset_duration": "1m"},
        ),
        virtual_key(
            "narrow",
            NARROW_KEY,
            providers=(),
            provider_configs=[{"provider": "gemini", "allowed_models": ["m2"]}],
        ),
    ]
    config = priced_config(keys, [vendor("gemini", "gemini")])
    running = start_gateway(f"sqlite:///{tmp}/ledger.sqlite", config, tmp)
    yield running
    running.stop()


def headers_of(response: genai_types.GenerateContentResponse) -> dict[str, str]:
    """The HTTP headers the SDK kept on a response."""
    assert response.sdk_http_response is not None
    return dict(response.sdk_http_response.headers or {})


@pytest.mark.parametrize("version", VERSIONS)
def test_generate_content_returns_the_reply_usage_and_cost_on_each_version(
    gateway: RunningGateway, version: str
) -> None:
    sdk = gemini_client(gateway, version)  # kept alive: a collected client closes its pool
    response = sdk.models.generate_content(model="m1", contents="hi")
    assert response.text == HELLO
    usage = response.usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.candidates_token_count) == (1, 5)
    assert response.candidates and response.candidates[0].finish_reason == "STOP"
    headers = headers_of(response)
    assert Decimal(headers["x-govledger-cost-usd"]) == cost(1, 5)
    settled = settled_for(gateway, headers["x-govledger-request-id"])
    assert (settled.status, settled.provider, settled.cost) == ("ok", "gemini", cost(1, 5))
    assert mock_stats(gateway)["by_path"][f"/{version}/models/m1:generateContent"] >= 1


@pytest.mark.parametrize("version", VERSIONS)
def test_a_streamed_generation_delivers_the_text_and_the_last_chunks_usage_on_each_version(
    gateway: RunningGateway, version: str
) -> None:
    sdk = gemini_client(gateway, version)
    chunks = list(sdk.models.generate_content_stream(model="m1", contents="echo: one two three"))
    assert "".join(c.text or "" for c in chunks) == "one two three"
    usage = chunks[-1].usage_metadata
    assert usage is not None and usage.candidates_token_count == 3
    request_id = headers_of(chunks[-1])["x-govledger-request-id"]
    settled = settled_for(gateway, request_id)
    assert (settled.status, settled.cost) == ("ok", cost(5, 3))
    assert settled.tokens["output"] == 3
    assert mock_stats(gateway)["by_path"][f"/{version}/models/m1:streamGenerateContent"] >= 1


def test_the_key_may_come_as_a_query_parameter_and_streams_carry_no_comment_lines(
    gateway: RunningGateway,
) -> None:
    body = orjson.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    json = {"content-type": "application/json"}
    plain = raw_request(
        gateway, f"/genai/v1/models/m1:generateContent?key={GEMINI_KEY}", body, json
    )
    assert plain.status == 200
    assert plain.json()["candidates"][0]["content"]["parts"][0]["text"] == HELLO
    path = f"/genai/v1beta/models/m1:streamGenerateContent?alt=sse&key={GEMINI_KEY}"
    streamed = raw_request(gateway, path, body, json)
    assert streamed.status == 200
    lines = [line for line in streamed.body.decode().split("\n") if line]
    assert lines and all(line.startswith("data: ") for line in lines)


# --- usage with thoughts, cache and tool-use prompts ---------------------------------------

USAGE = {
    "promptTokenCount": 20,
    "cachedContentTokenCount": 8,
    "toolUsePromptTokenCount": 4,
    "thoughtsTokenCount": 11,
}


def thinking_upstream() -> web.Application:
    """A Gemini upstream whose usage has thoughts, cache and tool-use prompt tokens."""

    def chunk(text: str, candidates: int, final: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}}
        if final:
            candidate["finishReason"] = "STOP"
        usage = {**USAGE, "candidatesTokenCount": candidates, "totalTokenCount": 35 + candidates}
        return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": "m1"}

    async def generate(request: web.Request) -> web.StreamResponse:
        await request.read()
        if request.match_info["tail"].endswith(":generateContent"):
            return web.json_response(chunk("thought it through", 5, True))
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for part in (chunk("thought ", 2, False), chunk("it through", 5, True)):
            await response.write(b"data: " + orjson.dumps(part) + b"\r\n\r\n")
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1beta/models/{tail}", generate)
    return app


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_thoughts_count_as_output_and_tool_use_prompts_as_input(
    gateway_factory: Factory, stream: bool
) -> None:
    with serve(thinking_upstream()) as url:
        config = priced_config(
            [virtual_key("k1", GEMINI_KEY, providers=("gemini",))],
            [vendor("gemini", "gemini", url)],
        )
        gateway = gateway_factory(config)
        sdk = gemini_client(gateway, "v1beta")
        if stream:
            chunks = list(sdk.models.generate_content_stream(model="m1", contents="think"))
            assert "".join(c.text or "" for c in chunks) == "thought it through"
            last = chunks[-1]
        else:
            last = sdk.models.generate_content(model="m1", contents="think")
    settled = settled_for(gateway, headers_of(last)["x-govledger-request-id"])
    assert settled.tokens == {"input": 24, "output": 16, "cached": 8, "reasoning": 11}
    assert settled.cost == cost(24, 16)


# --- errors -------------------------------------------------------------------------------


def google_refusal(error: genai_errors.APIError, status: int, name: str, code: str) -> None:
    """Check an SDK error's code, status, ErrorInfo reason and request id header."""
    assert (error.code, error.status) == (status, name)
    assert error.message
    [info] = error.details["error"]["details"]
    assert (info["reason"], info["domain"]) == (code, "govledger")


@pytest.mark.parametrize(
    ("key", "model", "status", "name", "code", "exception"),
    [
        ("sk-bf-e2e-not-a-known-key", "m1", 401, "UNAUTHENTICATED", "virtual_key_not_found",
         genai_errors.ClientError),
        (BUDGET_KEY, "m1", 402, "RESOURCE_EXHAUSTED", "budget_exceeded", genai_errors.ClientError),
        (NARROW_KEY, "m1", 403, "PERMISSION_DENIED", "model_blocked", genai_errors.ClientError),
        (GEMINI_KEY, "unpriced", 400, "INVALID_ARGUMENT", "model_price_unknown",
         genai_errors.ClientError),
        (GEMINI_KEY, "m1-fail500", 502, "UNAVAILABLE", "upstream_unavailable",
         genai_errors.ServerError),
        (GEMINI_KEY, "m1-fail429", 429, "RESOURCE_EXHAUSTED", "upstream_rate_limited",
         genai_errors.ClientError),
    ],
)  # fmt: skip
def test_each_refusal_raises_the_sdks_error_with_googles_error_body(
    gateway: RunningGateway,
    key: str,
    model: str,
    status: int,
    name: str,
    code: str,
    exception: type[genai_errors.APIError],
) -> None:
    sdk = gemini_client(gateway, "v1", key)
    with pytest.raises(exception) as caught:
        sdk.models.generate_content(model=model, contents="hi")
    google_refusal(caught.value, status, name, code)
    if status < 500 and code != "upstream_rate_limited":
        flush_ledger(gateway)
        assert code in {
            e.code for e in of_type(gateway, ev.RequestRejected) if e.surface == "gemini"
        }


def test_the_rate_limit_answers_429_resource_exhausted_on_a_stream(gateway: RunningGateway) -> None:
    sdk = gemini_client(gateway, "v1beta", LIMITED_KEY)
    assert list(sdk.models.generate_content_stream(model="m1", contents="hi"))
    with pytest.raises(genai_errors.ClientError) as caught:
        list(sdk.models.generate_content_stream(model="m1", contents="hi"))
    google_refusal(caught.value, 429, "RESOURCE_EXHAUSTED", "request_limited")


def test_unknown_methods_missing_keys_and_non_sse_streams_are_refused_in_googles_shape(
    gateway: RunningGateway,
) -> None:
    body = orjson.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    json = {"content-type": "application/json"}
    auth = {**json, "x-goog-api-key": GEMINI_KEY}
    cases = [
        ("/genai/v1/models/m1:countTokens", auth, 404, "NOT_FOUND", "not_found"),
        ("/genai/v2/models/m1:generateContent", auth, 404, "NOT_FOUND", "not_found"),
        ("/genai/v1/models/m1:generateContent", json, 401, "UNAUTHENTICATED",
         "virtual_key_required"),
        ("/genai/v1/models/m1:streamGenerateContent", auth, 400, "INVALID_ARGUMENT",
         "stream_format_unsupported"),
    ]  # fmt: skip
    for path, headers, status, name, code in cases:
        response = raw_request(gateway, path, body, headers)
        assert response.status == status, path
        error = response.json()["error"]
        assert (error["code"], error["status"], error["details"][0]["reason"]) == (
            status,
            name,
            code,
        )
        assert len(response.headers["x-govledger-request-id"]) == 32
