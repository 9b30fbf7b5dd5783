"""The Anthropic surface through the official SDK: both key styles, plain and streaming,
usage normalised (input includes cache reads and writes), cost, and every error outcome
raising the SDK's own exception with Anthropic's body and `request-id` header."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import anthropic
import orjson
import pytest
from aiohttp import web

from govledger.ledger import events as ev
from tests.conftest import RunningGateway, start_gateway
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
from tests.e2e.vendor_support import (
    ANTHROPIC_KEY,
    anthropic_client,
    cost,
    one_vendor,
    priced_config,
    vendor,
)

Factory = Callable[..., RunningGateway]
HI: list[anthropic.types.MessageParam] = [{"role": "user", "content": "hi"}]
BUDGET_KEY = "sk-bf-e2e-anthropic-budget"
LIMITED_KEY = "sk-bf-e2e-anthropic-limited"
NARROW_KEY = "sk-bf-e2e-anthropic-narrow"
KEY_STYLES: dict[str, dict[str, Any]] = {
    "api_key (sent as Bearer by this SDK)": {"api_key": ANTHROPIC_KEY},
    "auth_token": {"auth_token": ANTHROPIC_KEY},
    "x-api-key header": {"default_headers": {"x-api-key": ANTHROPIC_KEY}},
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """One gateway for the tests below (they tell their requests apart by id)."""
    tmp = tmp_path_factory.mktemp("anthropic")
    keys = [
        virtual_key("k1", ANTHROPIC_KEY, providers=("anthropic",)),
        virtual_key("poor", BUDGET_KEY, providers=("anthropic",), budgets=[budget("0.000001")]),
        virtual_key(
            "limited",
            LIMITED_KEY,
            providers=("anthropic",),
            rate_limit={"request_max_limit": 1, "request_reset_duration": "1m"},
        ),
        virtual_key(
            "narrow",
            NARROW_KEY,
            providers=(),
            provider_configs=[{"provider": "anthropic", "allowed_models": ["m2"]}],
        ),
    ]
    config = priced_config(keys, [vendor("anthropic", "anthropic")])
    running = start_gateway(f"sqlite:///{tmp}/ledger.sqlite", config, tmp)
    yield running
    running.stop()


@pytest.mark.parametrize("style", list(KEY_STYLES))
def test_a_message_returns_the_reply_its_usage_and_its_cost_with_each_key_style(
    gateway: RunningGateway, style: str
) -> None:
    with anthropic_client(gateway, **KEY_STYLES[style]) as sdk:
        raw = sdk.messages.with_raw_response.create(model="m1", max_tokens=20, messages=HI)
    message = raw.parse()
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == HELLO  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (1, 5)
    assert Decimal(raw.headers["x-govledger-cost-usd"]) == cost(1, 5)
    assert message._request_id == raw.headers["x-govledger-request-id"]
    settled = settled_for(gateway, raw.headers["x-govledger-request-id"])
    assert (settled.status, settled.provider, settled.cost) == ("ok", "anthropic", cost(1, 5))
    assert settled.tokens == {"input": 1, "output": 5, "cached": 0, "reasoning": 0}


@pytest.mark.parametrize("style", list(KEY_STYLES))
def test_a_streamed_message_delivers_the_text_and_final_usage_with_each_key_style(
    gateway: RunningGateway, style: str
) -> None:
    with (
        anthropic_client(gateway, **KEY_STYLES[style]) as sdk,
        sdk.messages.stream(model="m1", max_tokens=20, messages=HI) as stream,
    ):
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
        request_id = stream.response.headers["x-govledger-request-id"]
    assert text == HELLO
    assert (final.usage.input_tokens, final.usage.output_tokens) == (1, 5)
    settled = settled_for(gateway, request_id)
    assert (settled.status, settled.cost) == ("ok", cost(1, 5))


def test_a_stream_is_settled_before_message_stop_and_says_its_cost_in_a_comment(
    gateway: RunningGateway,
) -> None:
    body = orjson.dumps({"model": "m1", "max_tokens": 20, "messages": HI, "stream": True})
    headers = {"x-api-key": ANTHROPIC_KEY, "content-type": "application/json"}
    response = raw_request(gateway, "/anthropic/v1/messages", body, headers)
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = response.body.decode().split("\n\n")
    stop = next(i for i, e in enumerate(events) if e.startswith("event: message_stop"))
    assert events[stop - 1] == f": govledger-cost-usd {cost(1, 5)}"
    assert settled_for(gateway, response.headers["x-govledger-request-id"]).cost == cost(1, 5)


# --- usage with prompt caching ------------------------------------------------------------

CACHED_USAGE = {
    "input_tokens": 10,
    "cache_read_input_tokens": 100,
    "cache_creation_input_tokens": 50,
}


def caching_upstream() -> web.Application:
    """An Anthropic upstream reporting cache reads and writes, with two message_deltas."""

    async def messages(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        message = {
            "id": "msg_cache",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [{"type": "text", "text": "cached"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {**CACHED_USAGE, "output_tokens": 7},
        }
        if not body.get("stream"):
            return web.json_response(message)
        start = {**message, "content": [], "stop_reason": None}
        start["usage"] = {**CACHED_USAGE, "output_tokens": 1}
        events: list[tuple[str, dict[str, Any]]] = [
            ("message_start", {"message": start}),
            ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
            ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "ca"}}),
            ("message_delta", {"delta": {"stop_reason": None}, "usage": {"output_tokens": 3}}),
            ("ping", {}),
            ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "ched"}}),
            ("content_block_stop", {"index": 0}),
            (
                "message_delta",
                {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}},
            ),
            ("message_stop", {}),
        ]
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for name, data in events:
            frame = {"type": name, **data}
            await response.write(f"event: {name}\ndata: ".encode() + orjson.dumps(frame) + b"\n\n")
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    return app


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_input_is_charged_with_cache_reads_and_writes_and_output_is_the_last_cumulative_figure(
    gateway_factory: Factory, stream: bool
) -> None:
    with serve(caching_upstream()) as url:
        config = priced_config(
            [virtual_key("k1", ANTHROPIC_KEY, providers=("anthropic",))],
            [vendor("anthropic", "anthropic", url)],
        )
        gateway = gateway_factory(config)
        with anthropic_client(gateway) as sdk:
            if stream:
                with sdk.messages.stream(model="m1", max_tokens=20, messages=HI) as events:
                    assert "".join(events.text_stream) == "cached"
                    usage = events.get_final_message().usage
                    request_id = events.response.headers["x-govledger-request-id"]
            else:
                raw = sdk.messages.with_raw_response.create(model="m1", max_tokens=20, messages=HI)
                usage = raw.parse().usage
                request_id = raw.headers["x-govledger-request-id"]
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.output_tokens) == (10, 100, 7)
    settled = settled_for(gateway, request_id)
    assert settled.tokens == {
        "input": 160,
        "output": 7,
        "cached": 100,
        "reasoning": 0,
        "cache_write": 50,
    }
    assert settled.cost == cost(160, 7)  # an override price bills cache reads at the input price


# --- errors -------------------------------------------------------------------------------


def refused(error: anthropic.APIStatusError, status: int, kind: str, code: str) -> dict[str, Any]:
    """Check an SDK error's status, Anthropic body and request id; return its error object."""
    assert error.status_code == status
    body = error.body
    assert isinstance(body, dict) and body["type"] == "error", body
    detail: dict[str, Any] = body["error"]
    assert detail["type"] == kind
    assert detail["details"] == {"error_code": code}
    assert error.request_id == error.response.headers["x-govledger-request-id"]
    assert body["request_id"] == error.request_id
    return detail


@pytest.mark.parametrize(
    ("key", "model", "status", "kind", "code", "exception"),
    [
        ("sk-bf-e2e-not-a-known-key", "m1", 401, "authentication_error",
         "virtual_key_not_found", anthropic.AuthenticationError),
        (BUDGET_KEY, "m1", 402, "billing_error", "budget_exceeded", anthropic.PaymentRequiredError),
        (NARROW_KEY, "m1", 403, "permission_error", "model_blocked",
         anthropic.PermissionDeniedError),
        (ANTHROPIC_KEY, "unpriced", 400, "invalid_request_error", "model_price_unknown",
         anthropic.BadRequestError),
        (ANTHROPIC_KEY, "m1-fail500", 502, "api_error", "upstream_unavailable",
         anthropic.InternalServerError),
        (ANTHROPIC_KEY, "m1-fail429", 429, "rate_limit_error", "upstream_rate_limited",
         anthropic.RateLimitError),
    ],
)  # fmt: skip
def test_each_refusal_raises_the_sdks_exception_with_anthropics_error_body(
    gateway: RunningGateway,
    key: str,
    model: str,
    status: int,
    kind: str,
    code: str,
    exception: type[anthropic.APIStatusError],
) -> None:
    with anthropic_client(gateway, api_key=key) as sdk, pytest.raises(exception) as caught:
        sdk.messages.create(model=model, max_tokens=20, messages=HI)
    detail = refused(caught.value, status, kind, code)
    assert detail["message"]
    if status < 500 and code != "upstream_rate_limited":
        flush_ledger(gateway)
        [event] = [
            e
            for e in of_type(gateway, ev.RequestRejected)
            if e.request_id == caught.value.request_id
        ]
        assert (event.code, event.surface) == (code, "anthropic_messages")


def test_the_rate_limit_answers_429_rate_limit_error_with_retry_after(
    gateway: RunningGateway,
) -> None:
    with anthropic_client(gateway, api_key=LIMITED_KEY) as sdk:
        sdk.messages.create(model="m1", max_tokens=5, messages=HI)
        with pytest.raises(anthropic.RateLimitError) as caught:
            sdk.messages.create(model="m1", max_tokens=5, messages=HI)
    refused(caught.value, 429, "rate_limit_error", "request_limited")
    assert int(caught.value.response.headers["retry-after"]) >= 1


def test_a_missing_key_or_max_tokens_and_a_broken_body_are_refused_in_anthropics_shape(
    gateway: RunningGateway,
) -> None:
    path = "/anthropic/v1/messages"
    json = {"content-type": "application/json"}
    auth = {**json, "x-api-key": ANTHROPIC_KEY}
    cases = [
        (raw_request(gateway, path, orjson.dumps({"model": "m1", "max_tokens": 5, "messages": HI}),
                     json),
         401, "authentication_error", "virtual_key_required"),
        (raw_request(gateway, path, orjson.dumps({"model": "m1", "messages": HI}), auth),
         400, "invalid_request_error", "missing_max_tokens"),
        (raw_request(gateway, path, b"{", auth), 400, "invalid_request_error", "invalid_json"),
    ]  # fmt: skip
    for response, status, kind, code in cases:
        assert response.status == status
        body = response.json()
        assert body["error"]["type"] == kind and body["error"]["details"]["error_code"] == code
        assert response.headers["request-id"] == response.headers["x-govledger-request-id"]


def test_an_anthropic_upstream_4xx_is_passed_through_unchanged(gateway_factory: Factory) -> None:
    async def reject(request: web.Request) -> web.Response:
        error = {"type": "error", "error": {"type": "invalid_request_error", "message": "nope"}}
        return web.json_response(error, status=400)

    app = web.Application()
    app.router.add_post("/v1/messages", reject)
    with serve(app) as url:
        gateway = gateway_factory(
            priced_config(
                [virtual_key("k1", ANTHROPIC_KEY, providers=("anthropic",))],
                [vendor("anthropic", "anthropic", url)],
            )
        )
        with anthropic_client(gateway) as sdk, pytest.raises(anthropic.BadRequestError) as caught:
            sdk.messages.create(model="m1", max_tokens=5, messages=HI)
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "nope"},
    }
    assert caught.value.response.headers["x-govledger-cost-usd"] == "0"
    assert caught.value.request_id == caught.value.response.headers["x-govledger-request-id"]


def test_the_one_vendor_helper_routes_a_key_to_a_single_provider(gateway_factory: Factory) -> None:
    gateway = gateway_factory(one_vendor("anthropic", ANTHROPIC_KEY))
    with anthropic_client(gateway) as sdk:
        assert sdk.messages.create(model="m2", max_tokens=3, messages=HI).usage.output_tokens == 3
