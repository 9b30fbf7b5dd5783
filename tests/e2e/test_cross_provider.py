"""Cross-provider routing: any surface served by any provider type, fallback chains that
change vendor, tool calls translated both ways, model maps, and a 400 naming a feature
that cannot be translated."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import openai
import orjson
import pytest
from aiohttp import web
from openai.types.chat import (
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageParam,
)

from tests.conftest import RunningGateway, start_gateway
from tests.e2e.openai_support import (
    HELLO,
    KEY,
    client,
    error_body,
    failing_upstream,
    hi,
    serve,
    settled_for,
    virtual_key,
)
from tests.e2e.vendor_support import (
    anthropic_client,
    cost,
    gemini_client,
    priced_config,
    vendor,
)

Factory = Callable[..., RunningGateway]
KEYS = {kind: f"sk-bf-e2e-cross-to-{kind}-0001" for kind in ("openai", "anthropic", "gemini")}
SURFACES = ("openai", "anthropic", "gemini")

pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession from ClientSession:DeprecationWarning"
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """One key per provider type, each routed to that type only."""
    tmp = tmp_path_factory.mktemp("cross")
    keys = [virtual_key(f"to-{kind}", value, providers=(kind,)) for kind, value in KEYS.items()]
    providers = [vendor(kind, kind) for kind in KEYS]
    running = start_gateway(f"sqlite:///{tmp}/ledger.sqlite", priced_config(keys, providers), tmp)
    yield running
    running.stop()


def ask(
    gateway: RunningGateway, surface: str, key: str, stream: bool, text: str
) -> tuple[str, str]:
    """Send one prompt through a surface's SDK; returns (reply text, request id)."""
    if surface == "openai":
        with client(gateway, key) as sdk:
            messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": text}]
            if not stream:
                raw = sdk.chat.completions.with_raw_response.create(
                    model="m1", messages=messages, max_tokens=20
                )
                reply_text = raw.parse().choices[0].message.content or ""
                return reply_text, raw.headers["x-govledger-request-id"]
            chunks = sdk.chat.completions.create(
                model="m1", messages=messages, max_tokens=20, stream=True
            )
            parts = [c.choices[0].delta.content or "" for c in chunks if c.choices]
            return "".join(parts), chunks.response.headers["x-govledger-request-id"]
    if surface == "anthropic":
        with anthropic_client(gateway, api_key=key) as sdk:
            prompt: list[Any] = [{"role": "user", "content": text}]
            if not stream:
                raw_message = sdk.messages.with_raw_response.create(
                    model="m1", max_tokens=20, messages=prompt
                )
                block = raw_message.parse().content[0]
                return getattr(block, "text", ""), raw_message.headers["x-govledger-request-id"]
            with sdk.messages.stream(model="m1", max_tokens=20, messages=prompt) as events:
                joined = "".join(events.text_stream)
                return joined, events.response.headers["x-govledger-request-id"]
    sdk_g = gemini_client(gateway, "v1beta", key)
    if not stream:
        reply = sdk_g.models.generate_content(model="m1", contents=text)
        assert reply.sdk_http_response is not None and reply.sdk_http_response.headers
        return reply.text or "", reply.sdk_http_response.headers["x-govledger-request-id"]
    pieces = list(sdk_g.models.generate_content_stream(model="m1", contents=text))
    last = pieces[-1].sdk_http_response
    assert last is not None and last.headers
    return "".join(c.text or "" for c in pieces), last.headers["x-govledger-request-id"]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("kind", list(KEYS))
@pytest.mark.parametrize("surface", SURFACES)
def test_every_surface_is_served_by_every_provider_type_with_the_same_text_usage_and_cost(
    gateway: RunningGateway, surface: str, kind: str, stream: bool
) -> None:
    text, request_id = ask(gateway, surface, KEYS[kind], stream, "echo: across the wire")
    assert text == "across the wire"
    settled = settled_for(gateway, request_id)
    assert (settled.status, settled.provider) == ("ok", kind)
    assert (settled.tokens["input"], settled.tokens["output"]) == (6, 3)
    assert settled.cost == cost(6, 3)


# --- fallback across vendors -------------------------------------------------------------


def chain_config(first: str, second: str, down: str) -> dict[str, Any]:
    """Key KEY routed to `first` (at `down`, failing) then `second` (the fake upstream)."""
    key = virtual_key(
        "k1",
        KEY,
        providers=(),
        provider_configs=[
            {"provider": "primary", "weight": 1},
            {"provider": "fallback", "weight": 0},
        ],
    )
    return priced_config([key], [vendor("primary", first, down), vendor("fallback", second)])


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_an_openai_client_is_served_by_an_anthropic_provider_after_the_openai_one_fails(
    gateway_factory: Factory, stream: bool
) -> None:
    with serve(failing_upstream(500)) as down:
        gateway = gateway_factory(chain_config("openai", "anthropic", down + "/v1"))
        text, request_id = ask(gateway, "openai", KEY, stream, "hi")
    assert text == HELLO
    settled = settled_for(gateway, request_id)
    assert [(a["provider"], a["status"]) for a in settled.attempts] == [
        ("primary", 500),
        ("fallback", 200),
    ]
    assert (settled.provider, settled.cost) == ("fallback", cost(1, 5))


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_an_anthropic_client_is_served_by_an_openai_provider_after_the_anthropic_one_fails(
    gateway_factory: Factory, stream: bool
) -> None:
    with serve(failing_upstream(503)) as down:
        gateway = gateway_factory(chain_config("anthropic", "openai", down))
        text, request_id = ask(gateway, "anthropic", KEY, stream, "hi")
    assert text == HELLO
    settled = settled_for(gateway, request_id)
    assert [(a["provider"], a["status"]) for a in settled.attempts] == [
        ("primary", 503),
        ("fallback", 200),
    ]
    assert settled.cost == cost(1, 5)


# --- features that cannot be translated -----------------------------------------------------


def test_a_feature_no_route_can_take_gets_400_naming_it_and_costs_nothing(
    gateway: RunningGateway,
) -> None:
    with client(gateway, KEYS["anthropic"]) as sdk, pytest.raises(openai.BadRequestError) as e:
        sdk.chat.completions.create(model="m1", messages=hi(), logprobs=True)
    body = error_body(e.value)
    assert body["code"] == "feature_not_translatable"
    assert "`logprobs`" in body["message"] and "anthropic" in body["message"]
    settled = settled_for(gateway, e.value.response.headers["x-govledger-request-id"])
    assert (settled.status, settled.cost) == ("failed", Decimal(0))
    with client(gateway, KEYS["gemini"]) as sdk, pytest.raises(openai.BadRequestError) as e:
        sdk.responses.create(model="m1", input="hi")
    assert "the Responses API" in str(e.value.body)


def test_a_route_that_cannot_take_a_feature_is_skipped_for_one_that_can(
    gateway_factory: Factory,
) -> None:
    gateway = gateway_factory(chain_config("anthropic", "openai", "{MOCK}"))
    with client(gateway) as sdk:
        raw = sdk.chat.completions.with_raw_response.create(
            model="m1", messages=hi(), logprobs=True
        )
    assert raw.parse().choices[0].message.content == HELLO
    settled = settled_for(gateway, raw.headers["x-govledger-request-id"])
    [skipped, served] = settled.attempts
    assert skipped["provider"] == "primary" and skipped["status"] is None
    assert skipped["error"].startswith("untranslatable: `logprobs`")
    assert (served["provider"], served["status"]) == ("fallback", 200)


def test_a_model_map_names_the_model_the_way_the_provider_knows_it(
    gateway_factory: Factory,
) -> None:
    key = virtual_key(
        "k1",
        KEY,
        providers=(),
        provider_configs=[{"provider": "claude", "model_map": {"gpt-house": "m1-mapped"}}],
    )
    gateway = gateway_factory(priced_config([key], [vendor("claude", "anthropic")]))
    with client(gateway) as sdk:
        raw = sdk.chat.completions.with_raw_response.create(model="gpt-house", messages=hi())
    assert raw.parse().model == "m1-mapped"
    settled = settled_for(gateway, raw.headers["x-govledger-request-id"])
    assert (settled.model, settled.cost) == ("m1-mapped", cost(1, 5))


# --- tool calls across vendors -----------------------------------------------------------

WEATHER: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def tool_using_anthropic(seen: list[dict[str, Any]]) -> web.Application:
    """An Anthropic upstream that calls `weather` for Paris (plain or streamed)."""

    async def messages(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        seen.append(body)
        usage = {"input_tokens": 30, "output_tokens": 9}
        block = {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}
        if not body.get("stream"):
            message = {
                "id": "msg_tool",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [{"type": "text", "text": "Checking."}, block],
                "stop_reason": "tool_use",
                "stop_sequence": None,
                "usage": usage,
            }
            return web.json_response(message)
        start = {"id": "msg_tool", "type": "message", "role": "assistant", "model": body["model"],
                 "content": [], "stop_reason": None, "stop_sequence": None,
                 "usage": {"input_tokens": 30, "output_tokens": 1}}  # fmt: skip
        events = [
            {"type": "message_start", "message": start},
            {"type": "content_block_start", "index": 0,
             "content_block": {**block, "input": {}}},
            {"type": "content_block_delta", "index": 0,
             "delta": {"type": "input_json_delta", "partial_json": '{"city": '}},
            {"type": "content_block_delta", "index": 0,
             "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'}},
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
             "usage": {"output_tokens": 9}},
            {"type": "message_stop"},
        ]  # fmt: skip
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for event in events:
            assert isinstance(event, dict)
            await response.write(
                f"event: {event['type']}\ndata: ".encode() + orjson.dumps(event) + b"\n\n"
            )
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    return app


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_an_openai_client_gets_tool_calls_from_an_anthropic_provider_and_sends_results_back(
    gateway_factory: Factory, stream: bool
) -> None:
    seen: list[dict[str, Any]] = []
    with serve(tool_using_anthropic(seen)) as url:
        config = priced_config(
            [virtual_key("k1", KEY, providers=("claude",))],
            [vendor("claude", "anthropic", url)],
        )
        gateway = gateway_factory(config)
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?"},
        ]
        with client(gateway) as sdk:
            if stream:
                chunks = list(
                    sdk.chat.completions.create(
                        model="m1", messages=messages, tools=[WEATHER], stream=True
                    )
                )
                calls = [c.choices[0].delta.tool_calls for c in chunks if c.choices]
                deltas = [d.function for group in calls if group for d in group if d.function]
                call_id = next(d.id for group in calls if group for d in group if d.id)
                name = deltas[0].name or ""
                arguments = "".join(d.arguments or "" for d in deltas)
                finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
            else:
                reply = sdk.chat.completions.create(model="m1", messages=messages, tools=[WEATHER])
                [call] = reply.choices[0].message.tool_calls or []
                assert isinstance(call, ChatCompletionMessageFunctionToolCall)
                call_id, name = call.id, call.function.name
                arguments = call.function.arguments
                finish = reply.choices[0].finish_reason
                assert reply.choices[0].message.content == "Checking."
            assert (call_id, name, orjson.loads(arguments)) == (
                "toolu_1",
                "weather",
                {"city": "Paris"},
            )
            assert finish == "tool_calls"
            follow_up: list[ChatCompletionMessageParam] = [
                *messages,
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": call_id, "type": "function",
                     "function": {"name": name, "arguments": arguments}}]},
                {"role": "tool", "tool_call_id": call_id, "content": "18C and sunny"},
            ]  # fmt: skip
            sdk.chat.completions.create(model="m1", messages=follow_up, tools=[WEATHER])
    first, second = seen
    assert first["system"] == "Be brief."
    assert first["tools"] == [
        {
            "name": "weather",
            "description": "Weather in a city",
            "input_schema": WEATHER["function"].get("parameters"),
        }
    ]
    assert second["messages"][1] == {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "weather",
                     "input": {"city": "Paris"}}],
    }  # fmt: skip
    assert second["messages"][2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C and sunny"}],
    }
