"""Every refusal and failure of the OpenAI surface: status, OpenAI error body, code, headers,
and what the ledger holds afterwards (a rejected event, nothing reserved)."""

from __future__ import annotations

import asyncio
import math
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import openai
import orjson
import pytest

from govledger.ledger import events as ev
from tests.conftest import RunningGateway, start_gateway
from tests.e2e.openai_support import (
    HELLO,
    KEY,
    OTHER_KEY,
    RawResponse,
    admitted_for,
    budget,
    chat_body,
    client,
    error_body,
    flush_ledger,
    hi,
    make_config,
    nothing_held,
    of_type,
    provider,
    raw_request,
    say,
    settled_for,
    virtual_key,
)

Factory = Callable[..., RunningGateway]
CHAT = "/v1/chat/completions"


def refused(
    error: openai.APIStatusError, status: int, code: str, retry: bool = False
) -> dict[str, Any]:
    """Check an SDK error's status, code and gateway headers; return its error object."""
    assert error.status_code == status
    body = error_body(error)
    assert set(body) == {"message", "type", "param", "code"}
    assert body["code"] == code
    assert error.response.headers["x-govledger-request-id"]
    if not retry:
        assert error.response.headers["x-should-retry"] == "false"
    return body


def raw_refused(response: RawResponse, status: int, code: str) -> dict[str, Any]:
    """The same checks on a raw response."""
    assert response.status == status, response.body
    error = response.error()
    assert error["code"] == code
    assert response.headers["x-govledger-request-id"]
    return error


def rejected(gateway: RunningGateway) -> list[ev.RequestRejected]:
    """The rejected events, once everything queued has been committed."""
    flush_ledger(gateway)
    return of_type(gateway, ev.RequestRejected)


def two_keys() -> dict[str, Any]:
    """Keys k1 (KEY) and k2 (OTHER_KEY) on the fake upstream."""
    return make_config(keys=[virtual_key("k1", KEY), virtual_key("k2", OTHER_KEY)])


@pytest.fixture(scope="module")
def shared_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """One gateway for the table-driven tests below, which tell their requests apart by id."""
    tmp = tmp_path_factory.mktemp("shared")
    config = make_config(
        keys=[virtual_key("k1", KEY, budgets=[budget("1")]), virtual_key("k2", OTHER_KEY)]
    )
    gateway = start_gateway(f"sqlite:///{tmp}/ledger.sqlite", config, tmp)
    yield gateway
    gateway.stop()


# --- authentication -----------------------------------------------------------------------


def test_a_request_without_a_virtual_key_gets_401_virtual_key_required(
    gateway_factory: Factory,
) -> None:
    gateway = gateway_factory(two_keys())
    # The SDK sends `Authorization: Bearer <api_key>`; a value without sk-bf- is no virtual key.
    sdk = client(gateway, "sk-proj-a-real-openai-key")
    with sdk, pytest.raises(openai.AuthenticationError) as caught:
        sdk.chat.completions.create(model="m1", messages=hi())
    body = refused(caught.value, 401, "virtual_key_required")
    assert body["type"] == "authentication_error"
    [event] = rejected(gateway)
    assert (event.code, event.key_id, event.level) == ("virtual_key_required", None, "auth")
    assert of_type(gateway, ev.RequestAdmitted) == []


def test_an_unknown_virtual_key_gets_401_virtual_key_not_found(gateway_factory: Factory) -> None:
    gateway = gateway_factory(two_keys())
    sdk = client(gateway, "sk-bf-nobody-has-this-key")
    with sdk, pytest.raises(openai.AuthenticationError) as caught:
        sdk.chat.completions.create(model="m1", messages=hi())
    refused(caught.value, 401, "virtual_key_not_found")
    assert [e.code for e in rejected(gateway)] == ["virtual_key_not_found"]


A, B = "k1", "k2"


@pytest.mark.parametrize(
    ("headers", "outcome"),
    [
        ({"x-bf-vk": OTHER_KEY, "authorization": f"Bearer {KEY}"}, B),
        ({"authorization": f"Bearer {KEY}", "x-api-key": OTHER_KEY}, A),
        ({"x-api-key": KEY, "x-goog-api-key": OTHER_KEY}, A),
        ({"x-goog-api-key": OTHER_KEY}, B),
        ({"authorization": f"bearer {KEY}"}, A),
        ({"authorization": "Bearer sk-proj-openai", "x-api-key": OTHER_KEY}, B),
        ({"x-api-key": "not-a-virtual-key", "x-goog-api-key": OTHER_KEY}, B),
        ({"x-bf-vk": "any-value-counts-here", "authorization": f"Bearer {KEY}"}, "not_found"),
        ({"authorization": "Bearer sk-proj-openai", "x-api-key": "abc"}, "required"),
        ({"authorization": KEY}, "required"),
        ({}, "required"),
    ],
    ids=[
        "x-bf-vk before Authorization",
        "Authorization before x-api-key",
        "x-api-key before x-goog-api-key",
        "x-goog-api-key alone",
        "bearer scheme in any case",
        "non sk-bf- Bearer is skipped",
        "non sk-bf- x-api-key is skipped",
        "x-bf-vk counts without sk-bf-",
        "only non sk-bf- values",
        "Authorization without Bearer",
        "no header",
    ],
)
def test_the_virtual_key_is_read_from_headers_in_the_documented_order(
    shared_gateway: RunningGateway, headers: dict[str, str], outcome: str
) -> None:
    gateway = shared_gateway
    response = raw_request(
        gateway, CHAT, chat_body(max_tokens=5), {"content-type": "application/json", **headers}
    )
    request_id = response.headers["x-govledger-request-id"]
    if outcome in (A, B):
        assert response.status == 200, response.body
        assert admitted_for(gateway, request_id).key_id == outcome
    else:
        raw_refused(response, 401, f"virtual_key_{outcome}")


# --- 403 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"is_active": False}, "disabled"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "expired at 2020-01-01"),
    ],
    ids=["inactive", "expired"],
)
def test_an_inactive_or_expired_key_gets_403_virtual_key_blocked(
    gateway_factory: Factory, fields: dict[str, Any], words: str
) -> None:
    gateway = gateway_factory(make_config(keys=[virtual_key(**fields)]))
    with client(gateway) as sdk, pytest.raises(openai.PermissionDeniedError) as caught:
        sdk.chat.completions.create(model="m1", messages=hi())
    body = refused(caught.value, 403, "virtual_key_blocked")
    assert words in body["message"]
    assert body["type"] == "permission_error"
    [event] = rejected(gateway)
    assert (event.code, event.key_id) == ("virtual_key_blocked", "k1")
    assert nothing_held(gateway)


def test_a_model_the_key_does_not_allow_gets_403_model_blocked(gateway_factory: Factory) -> None:
    key = virtual_key(
        providers=(), provider_configs=[{"provider": "mock", "allowed_models": ["m1"]}]
    )
    gateway = gateway_factory(make_config(keys=[key]))
    with client(gateway) as sdk:
        assert sdk.chat.completions.create(model="m1", messages=hi()).choices
        with pytest.raises(openai.PermissionDeniedError) as caught:
            sdk.chat.completions.create(model="m2", messages=hi())
    body = refused(caught.value, 403, "model_blocked")
    assert "'m2'" in body["message"]


def test_a_provider_the_key_does_not_route_to_gets_403_provider_blocked(
    gateway_factory: Factory,
) -> None:
    config = make_config(providers=[provider("mock"), provider("other")])
    gateway = gateway_factory(config)
    with client(gateway) as sdk:
        assert sdk.chat.completions.create(model="mock/m1", messages=hi()).choices
        with pytest.raises(openai.PermissionDeniedError) as caught:
            sdk.chat.completions.create(model="other/m1", messages=hi())
    body = refused(caught.value, 403, "provider_blocked")
    assert "'other'" in body["message"]
    assert [e.code for e in rejected(gateway)] == ["provider_blocked"]


# --- 429 ----------------------------------------------------------------------------------


def test_the_request_limit_answers_429_request_limited_with_retry_after_in_seconds(
    gateway_factory: Factory,
) -> None:
    limit = {"request_max_limit": 2, "request_reset_duration": "1m"}
    gateway = gateway_factory(make_config(keys=[virtual_key(rate_limit=limit)]))
    started = time.monotonic()
    with client(gateway) as sdk:
        for _ in range(2):
            sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=5)
        with pytest.raises(openai.RateLimitError) as caught:
            sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=5)
    elapsed = time.monotonic() - started
    body = refused(caught.value, 429, "request_limited", retry=True)
    assert body["type"] == "rate_limit_error"
    retry_after = caught.value.response.headers["retry-after"]
    # GCRA, 2 per 60 s: the next slot opens 30 s after the first request.
    assert retry_after.isdigit()
    assert math.ceil(30 - elapsed) <= int(retry_after) <= 30
    assert f"retry in {retry_after}s" in body["message"]
    assert len(of_type(gateway, ev.RequestSettled)) == 2


def test_the_token_limit_answers_429_token_limited_and_settles_on_actual_tokens(
    gateway_factory: Factory,
) -> None:
    limit = {"token_max_limit": 1000, "token_reset_duration": "1m"}
    gateway = gateway_factory(make_config(keys=[virtual_key(rate_limit=limit)]))
    words = " ".join(["w"] * 200)  # 405 prompt bytes: reserves 16+8+405+200 = 629 tokens
    started = time.monotonic()
    with client(gateway) as sdk:
        # Each settles at 102 + 200 = 302 tokens, so two fit (302 + 629 <= 1000) ...
        for _ in range(2):
            sdk.chat.completions.create(model="m1", messages=say(words), max_tokens=200)
        # ... and a third does not (604 + 629 > 1000): 233 tokens x 60/1000 s = 13.98 s.
        with pytest.raises(openai.RateLimitError) as caught:
            sdk.chat.completions.create(model="m1", messages=say(words), max_tokens=200)
        elapsed = time.monotonic() - started
        refused(caught.value, 429, "token_limited", retry=True)
        retry_after = caught.value.response.headers["retry-after"]
        assert retry_after.isdigit()
        assert max(1, math.ceil(13.98 - elapsed)) <= int(retry_after) <= 14
        # A request that can never fit is told the window.
        with pytest.raises(openai.RateLimitError) as caught:
            sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=2000)
    body = refused(caught.value, 429, "token_limited", retry=True)
    assert caught.value.response.headers["retry-after"] == "60"
    assert "allows 1000 per 60s" in body["message"]


# --- 400: bad input, oversized bodies included; nothing is reserved -------------------------


@pytest.mark.parametrize(
    ("path", "body", "code", "param"),
    [
        (CHAT, b"{not json", "invalid_json", None),
        (CHAT, b"", "invalid_json", None),
        (CHAT, b"[1, 2]", "invalid_request", None),
        (CHAT, b'{"messages": [{"role": "user", "content": "hi"}]}', "missing_model", "model"),
        (CHAT, b'{"model": 7, "messages": []}', "missing_model", "model"),
        (CHAT, b'{"model": "m1"}', "missing_messages", "messages"),
        (CHAT, b'{"model": "m1", "messages": []}', "missing_messages", "messages"),
        (CHAT, b'{"model": "m1", "messages": "hi"}', "invalid_messages", "messages"),
        ("/v1/responses", b'{"model": "m1"}', "missing_input", "input"),
        ("/v1/embeddings", b'{"model": "e1", "input": ""}', "missing_input", "input"),
    ],
    ids=[
        "not JSON",
        "empty body",
        "not an object",
        "no model",
        "model not a string",
        "no messages",
        "empty messages",
        "messages not a list",
        "responses without input",
        "embeddings with empty input",
    ],
)
def test_a_malformed_body_gets_400_naming_the_problem_and_reserves_nothing(
    shared_gateway: RunningGateway, path: str, body: bytes, code: str, param: str | None
) -> None:
    gateway = shared_gateway
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    response = raw_request(gateway, path, body, headers)
    error = raw_refused(response, 400, code)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert response.headers["x-should-retry"] == "false"
    request_id = response.headers["x-govledger-request-id"]
    [event] = [e for e in rejected(gateway) if e.request_id == request_id]
    assert event.code == code
    assert request_id not in {e.request_id for e in of_type(gateway, ev.RequestAdmitted)}
    assert nothing_held(gateway)


def test_a_body_over_the_size_limit_gets_400_whether_declared_or_chunked(
    gateway_factory: Factory,
) -> None:
    gateway = gateway_factory(make_config(), max_body_bytes=1024)
    with client(gateway) as sdk:
        small = sdk.chat.completions.create(model="m1", messages=say("x" * 900), max_tokens=1)
        assert small.choices[0].message.content == "x" * 900
        with pytest.raises(openai.APIStatusError) as caught:
            sdk.chat.completions.create(model="m1", messages=say("x" * 1100), max_tokens=1)
    refused(caught.value, 400, "request_too_large")
    body = chat_body(messages=[{"role": "user", "content": "y" * 1100}])
    chunked = raw_request(
        gateway,
        CHAT,
        iter([body[:600], body[600:]]),
        {"authorization": f"Bearer {KEY}", "content-type": "application/json"},
    )
    raw_refused(chunked, 400, "request_too_large")
    assert [e.code for e in rejected(gateway)] == ["request_too_large"] * 2
    assert len(of_type(gateway, ev.RequestAdmitted)) == 1


# --- prices -------------------------------------------------------------------------------


def test_a_model_without_a_known_price_gets_400_model_price_unknown(
    shared_gateway: RunningGateway,
) -> None:
    gateway = shared_gateway
    with client(gateway) as sdk, pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="house-model-7", messages=hi())
    body = refused(caught.value, 400, "model_price_unknown")
    assert body["param"] == "model"
    assert "house-model-7" in body["message"]
    assert nothing_held(gateway)


def test_allow_unknown_prices_admits_an_unpriced_model_at_zero_cost_and_says_so(
    gateway_factory: Factory,
) -> None:
    gateway = gateway_factory(
        make_config(keys=[virtual_key(budgets=[budget("0.000001")])], allow_unknown_prices=True)
    )
    with client(gateway) as sdk:
        raw = sdk.chat.completions.with_raw_response.create(model="house-model-7", messages=hi())
    assert raw.parse().choices[0].message.content == HELLO
    assert raw.headers["x-govledger-cost-usd"] == "0"
    settled = settled_for(gateway, raw.headers["x-govledger-request-id"])
    assert (settled.status, settled.price_source, settled.cost) == ("ok", "zero", Decimal(0))
    assert settled.tokens["output"] == 5


# --- upstream failures --------------------------------------------------------------------


def test_an_upstream_answering_garbage_gets_502_and_releases_the_reservation(
    shared_gateway: RunningGateway,
) -> None:
    gateway = shared_gateway
    with client(gateway) as sdk, pytest.raises(openai.InternalServerError) as caught:
        sdk.chat.completions.create(model="m1-garbage", messages=hi(), max_tokens=10)
    refused(caught.value, 502, "upstream_bad_response", retry=True)
    request_id = caught.value.response.headers["x-govledger-request-id"]
    assert admitted_for(gateway, request_id).reservations[0]["amount"] > 0
    settled = settled_for(gateway, request_id)
    assert settled.status == "upstream_error"
    assert "not a JSON object" in settled.reason
    assert (settled.cost, settled.charges) == (Decimal(0), [])
    assert settled.attempts[0]["provider"] == "mock"
    assert nothing_held(gateway)
    assert gateway.runtime.usage.budgets["virtual_key:k1#1d"].reserved == 0


@pytest.mark.parametrize(
    ("model", "upstream", "status", "code", "error_type"),
    [
        ("m1-fail500", 500, 502, "upstream_unavailable", openai.InternalServerError),
        ("m1-fail429", 429, 429, "upstream_rate_limited", openai.RateLimitError),
    ],
)
def test_when_every_upstream_attempt_fails_the_client_gets_an_error_and_pays_nothing(
    shared_gateway: RunningGateway,
    model: str,
    upstream: int,
    status: int,
    code: str,
    error_type: type[openai.APIStatusError],
) -> None:
    gateway = shared_gateway
    with client(gateway) as sdk, pytest.raises(error_type) as caught:
        sdk.chat.completions.create(model=model, messages=hi(), max_tokens=10)
    refused(caught.value, status, code, retry=True)
    settled = settled_for(gateway, caught.value.response.headers["x-govledger-request-id"])
    assert settled.status == "upstream_error"
    assert settled.cost == 0
    assert [(a["provider"], a["status"]) for a in settled.attempts] == [("mock", upstream)]
    assert nothing_held(gateway)


def test_every_response_carries_a_request_id_and_successful_ones_a_cost(
    gateway_factory: Factory,
) -> None:
    gateway = gateway_factory(two_keys(), max_body_bytes=4096)
    auth = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    responses = {
        "chat": raw_request(gateway, CHAT, chat_body(max_tokens=3), auth),
        "embeddings": raw_request(
            gateway, "/v1/embeddings", orjson.dumps({"model": "e1", "input": "x"}), auth
        ),
        "responses": raw_request(
            gateway, "/v1/responses", orjson.dumps({"model": "m1", "input": "x"}), auth
        ),
        "models": raw_request(gateway, "/v1/models", None, auth, method="GET"),
        "no key": raw_request(gateway, CHAT, chat_body()),
        "models without key": raw_request(gateway, "/v1/models", None, method="GET"),
        "not json": raw_request(gateway, CHAT, b"{", auth),
        "too large": raw_request(gateway, CHAT, b"x" * 5000, auth),
        "price unknown": raw_request(gateway, CHAT, chat_body("unpriced"), auth),
        "garbage upstream": raw_request(gateway, CHAT, chat_body("m1-garbage"), auth),
        "failing upstream": raw_request(gateway, CHAT, chat_body("m1-fail500"), auth),
    }
    for name, response in responses.items():
        assert len(response.headers.get("x-govledger-request-id", "")) == 32, name
    ids = {r.headers["x-govledger-request-id"] for r in responses.values()}
    assert len(ids) == len(responses)
    for name in ("chat", "embeddings", "responses"):
        response = responses[name]
        assert response.status == 200
        cost = Decimal(response.headers["x-govledger-cost-usd"])
        assert cost > 0
        assert settled_for(gateway, response.headers["x-govledger-request-id"]).cost == cost
    assert [r.status for r in list(responses.values())[3:]] == [
        200,
        401,
        401,
        400,
        400,
        400,
        502,
        502,
    ]


def test_an_upstream_answering_garbage_to_a_stream_request_gets_502_too(
    shared_gateway: RunningGateway,
) -> None:
    gateway = shared_gateway
    with client(gateway) as sdk, pytest.raises(openai.InternalServerError) as caught:
        list(sdk.chat.completions.create(model="m1-garbage", messages=hi(), stream=True))
    refused(caught.value, 502, "upstream_bad_response", retry=True)
    settled = settled_for(gateway, caught.value.response.headers["x-govledger-request-id"])
    assert (settled.status, settled.cost) == ("upstream_error", Decimal(0))
    assert nothing_held(gateway)


@pytest.mark.parametrize(
    "fields", [{"is_active": False}, {"expires_at": "2020-01-01T00:00:00Z"}], ids=str
)
def test_an_inactive_or_expired_key_cannot_list_models(
    gateway_factory: Factory, fields: dict[str, Any]
) -> None:
    gateway = gateway_factory(make_config(keys=[virtual_key(**fields)]))
    with client(gateway) as sdk, pytest.raises(openai.PermissionDeniedError) as caught:
        sdk.models.list()
    refused(caught.value, 403, "virtual_key_blocked")


async def test_a_chunked_body_over_the_limit_is_cut_off_not_read_to_its_end(
    gateway_factory: Factory,
) -> None:
    gateway = gateway_factory(make_config(), max_body_bytes=1024)
    url = urllib.parse.urlsplit(gateway.url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(
            f"POST {CHAT} HTTP/1.1\r\nhost: {url.netloc}\r\n"
            f"authorization: Bearer {KEY}\r\ncontent-type: application/json\r\n"
            "transfer-encoding: chunked\r\n\r\n".encode()
        )
        chunk = b" " * 4096
        for _ in range(4):  # 16 KiB over the 1 KiB limit, and the body never ends
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()
        # The answer must come while the body is still open: a server that read a chunked body
        # to its end before judging its size would never answer here.
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)
        assert head.startswith(b"HTTP/1.1 400 "), head
        declared = re.search(rb"(?i)content-length: *(\d+)", head)
        assert declared is not None, head
        length = int(declared.group(1))
        body = orjson.loads(await asyncio.wait_for(reader.readexactly(length), timeout=30))
        assert body["error"]["code"] == "request_too_large"
    finally:
        writer.close()
