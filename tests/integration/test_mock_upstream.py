"""The mock upstream, driven by the official OpenAI, Anthropic and Gemini SDKs."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
from aiohttp import web
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types
from openai.types.responses import ResponseCompletedEvent, ResponseTextDeltaEvent

from govledger.proxy.fake_upstream.server import build_app

REPLY = "Hello from the mock upstream."
SYSTEM = "You are terse."  # 14 bytes
PROMPT = "Say hello please"  # 16 bytes; with SYSTEM 30 bytes -> 8 input tokens

# google-genai's async client subclasses aiohttp.ClientSession, which aiohttp deprecates.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession from ClientSession:DeprecationWarning"
)


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run the app on a free 127.0.0.1 port and yield its root URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def url() -> AsyncIterator[str]:
    """Root URL of a default mock upstream."""
    async with serve(build_app()) as root:
        yield root


@asynccontextmanager
async def openai_client(root: str, **kwargs: Any) -> AsyncIterator[openai.AsyncOpenAI]:
    """An AsyncOpenAI client pointed at the mock, without retries."""
    client = openai.AsyncOpenAI(base_url=root + "/v1", api_key="sk-openai", max_retries=0, **kwargs)
    async with client:
        yield client


@asynccontextmanager
async def anthropic_client(root: str) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """An AsyncAnthropic client pointed at the mock, without retries."""
    async with anthropic.AsyncAnthropic(base_url=root, api_key="sk-ant", max_retries=0) as client:
        yield client


@asynccontextmanager
async def gemini_client(root: str, api_version: str = "v1beta") -> AsyncIterator[genai.Client]:
    """A google-genai client pointed at the mock with the given API version."""
    options = genai_types.HttpOptions(base_url=root, api_version=api_version)
    client = genai.Client(api_key="g-key", http_options=options)
    try:
        yield client
    finally:
        await client.aio.aclose()
        client.close()


async def get_json(root: str, path: str, method: str = "GET", **kwargs: Any) -> Any:
    """Raw request returning the decoded JSON body."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, root + path, **kwargs) as resp,
    ):
        return await resp.json(content_type=None)


def chat_messages(user: str = PROMPT) -> list[Any]:
    """A system + user chat prompt."""
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


# ------------------------------------------------------------------ OpenAI


async def test_openai_chat_completion_returns_the_fixed_reply_and_documented_usage(
    url: str,
) -> None:
    async with openai_client(url) as client:
        result = await client.chat.completions.create(model="gpt-4o-mini", messages=chat_messages())
    assert result.model == "gpt-4o-mini"
    assert result.choices[0].message.content == REPLY
    assert result.choices[0].finish_reason == "stop"
    usage = result.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (8, 5, 13)
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 0
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 0


async def test_echo_prompt_is_replied_verbatim_and_max_tokens_caps_only_the_count(url: str) -> None:
    async with openai_client(url) as client:
        result = await client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "echo: one two three four"}],
            max_tokens=2,
        )
    assert result.choices[0].message.content == "one two three four"
    assert result.usage is not None
    assert result.usage.prompt_tokens == 6  # 24 bytes
    assert result.usage.completion_tokens == 2


async def test_chat_stream_with_include_usage_ends_with_a_usage_only_chunk(url: str) -> None:
    async with openai_client(url) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=chat_messages(),
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    *content_chunks, usage_chunk = chunks
    assert "".join(c.choices[0].delta.content or "" for c in content_chunks) == REPLY
    assert len(content_chunks) >= 5
    assert all(c.usage is None for c in content_chunks)
    assert content_chunks[-1].choices[0].finish_reason == "stop"
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert usage_chunk.usage.prompt_tokens == 8
    assert usage_chunk.usage.completion_tokens == 5
    assert usage_chunk.usage.total_tokens == 13
    assert {c.model for c in chunks} == {"gpt-4o-mini"}


async def test_chat_stream_without_include_usage_has_no_usage_chunk(url: str) -> None:
    async with openai_client(url) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=chat_messages("echo: a b"), stream=True
        )
        chunks = [chunk async for chunk in stream]
    assert all(c.choices and c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "a b"


async def test_chat_stream_is_data_lines_ending_with_done_on_the_wire(url: str) -> None:
    body = {"model": "m", "messages": chat_messages(), "stream": True}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + "/v1/chat/completions", json=body) as resp,
    ):
        assert resp.content_type == "text/event-stream"
        raw = await resp.read()
    events = raw.split(b"\n\n")
    assert events[-2:] == [b"data: [DONE]", b""]
    assert all(e.startswith(b"data: ") for e in events[:-1])
    assert all("usage" not in json.loads(e[6:]) for e in events[:-2])


async def test_embeddings_return_eight_floats_per_input_with_per_input_token_counts(
    url: str,
) -> None:
    async with openai_client(url) as client:
        base64_result = await client.embeddings.create(
            model="text-embedding-3-small", input=["abcd", "abcdefghi"]
        )
        float_result = await client.embeddings.create(
            model="text-embedding-3-small", input=["abcd", "abcdefghi"], encoding_format="float"
        )
    assert base64_result.model == "text-embedding-3-small"
    assert [len(d.embedding) for d in base64_result.data] == [8, 8]
    assert base64_result.usage.prompt_tokens == 1 + 3
    assert base64_result.usage.total_tokens == 4
    for encoded, plain in zip(base64_result.data, float_result.data, strict=True):
        assert encoded.embedding == pytest.approx(plain.embedding, abs=1e-6)
    assert base64_result.data[0].embedding != base64_result.data[1].embedding


async def test_responses_plain_reports_text_and_usage_details(url: str) -> None:
    async with openai_client(url) as client:
        result = await client.responses.create(
            model="gpt-4o-mini", input="echo: mock me", instructions=SYSTEM, max_output_tokens=16
        )
    assert result.model == "gpt-4o-mini"
    assert result.output_text == "mock me"
    assert result.usage is not None
    assert result.usage.input_tokens == 7  # 13 + 14 bytes
    assert result.usage.output_tokens == 2
    assert result.usage.total_tokens == 9
    assert result.usage.input_tokens_details.cached_tokens == 0
    assert result.usage.output_tokens_details.reasoning_tokens == 0


async def test_responses_stream_emits_created_deltas_done_and_completed_with_usage(
    url: str,
) -> None:
    message: Any = {"role": "user", "content": [{"type": "input_text", "text": PROMPT}]}
    async with openai_client(url) as client:
        stream = await client.responses.create(model="gpt-4o", input=[message], stream=True)
        events = [event async for event in stream]
        async with client.responses.stream(model="gpt-4o", input="hi") as helper:
            final = await helper.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created"
    assert kinds.count("response.output_text.delta") == 5
    assert kinds.index("response.output_text.done") < kinds.index("response.completed")
    assert kinds[-1] == "response.completed"
    deltas = [e.delta for e in events if isinstance(e, ResponseTextDeltaEvent)]
    assert "".join(deltas) == REPLY
    completed = events[-1]
    assert isinstance(completed, ResponseCompletedEvent)
    usage = completed.response.usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (4, 5, 9)
    assert usage.input_tokens_details.cached_tokens == 0
    assert usage.output_tokens_details.reasoning_tokens == 0
    assert final.output_text == REPLY


async def test_models_endpoint_lists_models_for_openai_and_anthropic_clients(url: str) -> None:
    async with openai_client(url) as client:
        openai_ids = [m.id async for m in client.models.list()]
    async with anthropic_client(url) as client:
        anthropic_ids = [m.id async for m in client.models.list()]
    assert "gpt-4o-mini" in openai_ids
    assert anthropic_ids == openai_ids


# ------------------------------------------------------------------ Anthropic


async def test_anthropic_message_returns_reply_and_cache_aware_usage(url: str) -> None:
    async with anthropic_client(url) as client:
        message = await client.messages.create(
            model="claude-mock",
            max_tokens=100,
            system=SYSTEM,
            messages=[{"role": "user", "content": PROMPT}],
        )
    assert message.model == "claude-mock"
    assert message.content[0].type == "text"
    assert message.content[0].text == REPLY
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 8
    assert message.usage.output_tokens == 5
    assert message.usage.cache_creation_input_tokens == 0
    assert message.usage.cache_read_input_tokens == 0


async def test_anthropic_stream_carries_input_usage_first_and_output_usage_last(url: str) -> None:
    messages: Any = [{"role": "user", "content": [{"type": "text", "text": "echo: x y z"}]}]
    async with anthropic_client(url) as client:
        stream = await client.messages.create(
            model="claude-mock", max_tokens=2, messages=messages, stream=True
        )
        events = [event async for event in stream]
        async with client.messages.stream(
            model="claude-mock", max_tokens=50, messages=messages
        ) as helper:
            final = await helper.get_final_message()
    kinds = [e.type for e in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert kinds.count("content_block_delta") == 3
    start, delta = events[0], events[-2]
    assert start.type == "message_start"
    assert start.message.usage.input_tokens == 3  # 11 bytes
    assert start.message.usage.cache_read_input_tokens == 0
    assert delta.type == "message_delta"
    assert delta.delta.stop_reason == "end_turn"
    assert delta.usage.output_tokens == 2  # capped by max_tokens
    assert final.content[0].type == "text"
    assert final.content[0].text == "x y z"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (3, 3)


async def test_anthropic_stream_sends_a_ping_after_message_start_on_the_wire(url: str) -> None:
    body = {"model": "c", "max_tokens": 5, "messages": chat_messages()[1:], "stream": True}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + "/v1/messages", json=body) as resp,
    ):
        raw = (await resp.read()).decode()
    names = [line[7:] for line in raw.splitlines() if line.startswith("event: ")]
    assert names[:3] == ["message_start", "ping", "content_block_start"]


# ------------------------------------------------------------------ Gemini


@pytest.mark.parametrize("api_version", ["v1beta", "v1"])
async def test_gemini_generate_content_reports_text_and_usage_metadata(
    url: str, api_version: str
) -> None:
    config = genai_types.GenerateContentConfig(system_instruction=SYSTEM, max_output_tokens=3)
    async with gemini_client(url, api_version) as client:
        result = await client.aio.models.generate_content(
            model="gemini-2.5-flash", contents=PROMPT, config=config
        )
    assert result.text == REPLY
    assert result.model_version == "gemini-2.5-flash"
    usage = result.usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.candidates_token_count) == (8, 3)
    assert usage.total_token_count == 11
    stats = await get_json(url, "/__mock/stats")
    assert stats["by_path"] == {f"/{api_version}/models/gemini-2.5-flash:generateContent": 1}


@pytest.mark.parametrize("api_version", ["v1beta", "v1"])
async def test_gemini_stream_has_usage_in_every_chunk_and_stop_on_the_last(
    url: str, api_version: str
) -> None:
    async with gemini_client(url, api_version) as client:
        stream = await client.aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="echo: streamed gemini words"
        )
        chunks = [chunk async for chunk in stream]
    assert len(chunks) == 3
    assert "".join(c.text or "" for c in chunks) == "streamed gemini words"
    assert all(c.usage_metadata is not None for c in chunks)
    last = chunks[-1]
    assert last.candidates is not None
    assert last.candidates[0].finish_reason == genai_types.FinishReason.STOP
    assert last.usage_metadata is not None
    assert last.usage_metadata.prompt_token_count == 7  # 27 bytes
    assert last.usage_metadata.candidates_token_count == 3
    assert last.usage_metadata.total_token_count == 10


async def test_gemini_sync_client_works_from_a_thread(url: str) -> None:
    async with gemini_client(url) as client:
        result = await asyncio.to_thread(
            client.models.generate_content, model="gemini-2.5-flash", contents="echo: sync"
        )
    assert result.text == "sync"


async def test_gemini_sse_stream_uses_data_prefix_and_blank_line_separators(url: str) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    async with aiohttp.ClientSession() as session, session.post(url + path, json=body) as resp:
        raw = await resp.read()
    frames = raw.split(b"\n\n")
    assert frames[-1] == b""
    assert len(frames) == 6
    assert all(f.startswith(b"data: {") and b"\r" not in f for f in frames[:-1])
    assert json.loads(frames[-2][6:])["candidates"][0]["finishReason"] == "STOP"


async def test_gemini_stream_without_alt_sse_is_a_json_array_of_responses(url: str) -> None:
    body = {"contents": [{"parts": [{"text": "echo: two words"}]}]}
    chunks = await get_json(url, "/v1/models/g:streamGenerateContent", "POST", json=body)
    assert [c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks] == ["two", " words"]
    assert [c["usageMetadata"]["candidatesTokenCount"] for c in chunks] == [1, 2]
    unknown = await get_json(url, "/v1beta/models/g:countTokens", "POST", json=body)
    assert unknown["error"]["code"] == 400


# ------------------------------------------------------------------ failure controls


async def test_fail500_model_raises_internal_server_error_in_openai_shape(url: str) -> None:
    async with openai_client(url) as client:
        with pytest.raises(openai.InternalServerError) as caught:
            await client.chat.completions.create(model="gpt-fail500", messages=chat_messages())
    assert caught.value.status_code == 500
    body: Any = caught.value.body
    assert set(body) == {"message", "type", "param", "code"}


async def test_fail429_model_raises_rate_limit_errors_for_each_vendor(url: str) -> None:
    async with openai_client(url) as client:
        with pytest.raises(openai.RateLimitError):
            await client.embeddings.create(model="emb-fail429", input="x")
    async with anthropic_client(url) as client:
        with pytest.raises(anthropic.RateLimitError) as caught:
            await client.messages.create(
                model="claude-fail429", max_tokens=5, messages=[{"role": "user", "content": "x"}]
            )
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "Rate limit reached (mock upstream)."},
    }
    async with gemini_client(url) as client:
        with pytest.raises(genai_errors.ClientError) as gemini_caught:
            await client.aio.models.generate_content(model="gemini-fail429", contents="x")
    assert gemini_caught.value.code == 429
    assert gemini_caught.value.status == "RESOURCE_EXHAUSTED"


async def test_garbage_model_returns_200_with_an_unparseable_body(url: str) -> None:
    async with openai_client(url) as client:
        with pytest.raises(json.JSONDecodeError):
            await client.chat.completions.create(model="gpt-garbage", messages=chat_messages())
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + "/v1/messages", json={"model": "claude-garbage"}) as resp,
    ):
        assert resp.status == 200
        assert await resp.read() == b"not json at all"


async def test_x_mock_fail_header_forces_failures_on_any_model(url: str) -> None:
    async with openai_client(url, default_headers={"x-mock-fail": "500"}) as client:
        with pytest.raises(openai.InternalServerError):
            await client.responses.create(model="gpt-4o", input="hi")
    async with gemini_client(url) as client:
        with pytest.raises(genai_errors.ServerError) as caught:
            await client.aio.models.generate_content(
                model="gemini-2.5-flash",
                contents="hi",
                config={"http_options": {"headers": {"x-mock-fail": "500"}}},
            )
    assert caught.value.code == 500
    body = await get_json(url, "/v1/messages", "POST", json={}, headers={"x-mock-fail": "429"})
    assert body["error"]["type"] == "rate_limit_error"


async def test_slow_model_waits_two_seconds_before_answering(url: str) -> None:
    started = time.monotonic()
    async with openai_client(url) as client:
        result = await client.chat.completions.create(model="gpt-slow", messages=chat_messages())
    assert time.monotonic() - started >= 2.0
    assert result.choices[0].message.content == REPLY


async def test_fail_rate_turns_a_seeded_fraction_of_requests_into_503s() -> None:
    statuses: list[list[int]] = []
    for _ in range(2):
        async with serve(build_app(fail_rate=0.5, seed=7)) as root, aiohttp.ClientSession() as s:
            run: list[int] = []
            for _ in range(40):
                async with s.post(root + "/v1/chat/completions", json={"model": "m"}) as resp:
                    run.append(resp.status)
                    if resp.status == 503:
                        assert (await resp.json())["error"]["type"] == "server_error"
            statuses.append(run)
    assert statuses[0] == statuses[1]
    assert set(statuses[0]) == {200, 503}
    async with serve(build_app(fail_rate=1.0)) as root, anthropic_client(root) as client:
        with pytest.raises(anthropic.APIStatusError) as caught:
            await client.messages.create(
                model="claude", max_tokens=5, messages=[{"role": "user", "content": "x"}]
            )
    assert caught.value.status_code == 503


async def test_latency_delays_responses_and_spaces_stream_chunks() -> None:
    async with serve(build_app(latency_ms=200)) as root, openai_client(root) as client:
        started = time.monotonic()
        await client.chat.completions.create(model="m", messages=chat_messages())
        plain = time.monotonic() - started
        started = time.monotonic()
        stream = await client.chat.completions.create(
            model="m", messages=chat_messages(), stream=True
        )
        arrivals = [time.monotonic() async for _ in stream]
    assert plain >= 0.2
    assert arrivals[0] - started >= 0.2
    assert arrivals[-1] - arrivals[0] >= 0.02 * (len(arrivals) - 1) * 0.9


async def test_invalid_json_body_gets_a_400_in_the_vendor_error_shape(url: str) -> None:
    body = await get_json(url, "/v1/chat/completions", "POST", data=b"{nope")
    assert body["error"]["type"] == "invalid_request_error"
    body = await get_json(url, "/v1beta/models/g:generateContent", "POST", data=b"[]")
    assert body["error"]["status"] == "INVALID_ARGUMENT"


# ------------------------------------------------------------------ stats


async def test_stats_record_paths_and_the_provider_key_header_and_reset_clears_them(
    url: str,
) -> None:
    async with openai_client(url) as client:
        await client.chat.completions.create(model="m", messages=chat_messages())
        await client.chat.completions.create(model="m", messages=chat_messages())
    stats = await get_json(url, "/__mock/stats")
    assert stats["requests"] == 2
    assert stats["by_path"] == {"/v1/chat/completions": 2}
    assert stats["last_headers"]["authorization"] == "Bearer sk-openai"

    async with anthropic_client(url) as client:
        await client.messages.create(
            model="c", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    stats = await get_json(url, "/__mock/stats")
    assert stats["last_headers"]["authorization"] == "Bearer sk-ant"  # this SDK's api_key auth
    assert stats["last_headers"]["anthropic-version"]
    await get_json(url, "/v1/messages", "POST", json={}, headers={"X-Api-Key": "sk-raw"})
    stats = await get_json(url, "/__mock/stats")
    assert stats["last_headers"]["x-api-key"] == "sk-raw"
    assert "authorization" not in stats["last_headers"]

    async with gemini_client(url) as client:
        await client.aio.models.generate_content(model="gemini-2.5-flash", contents="x")
    stats = await get_json(url, "/__mock/stats")
    assert stats["last_headers"]["x-goog-api-key"] == "g-key"
    assert stats["requests"] == 5
    assert stats["by_path"]["/v1/messages"] == 2
    assert len(stats["arrivals"]) == 5 and stats["arrivals"] == sorted(stats["arrivals"])
    assert stats["rate_limited_at"] == []  # no 429 with Retry-After was answered

    assert await get_json(url, "/__mock/reset", "POST") == {"ok": True}
    assert await get_json(url, "/__mock/stats") == {
        "requests": 0,
        "by_path": {},
        "last_headers": {},
        "arrivals": [],
        "rate_limited_at": [],
    }


# ------------------------------------------------------------------ run()


async def test_run_serves_until_terminated_and_prints_a_single_line() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = f"from govledger.proxy.fake_upstream.server import run; run('127.0.0.1', {port}, 0, 0.0)"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    try:
        first = await asyncio.wait_for(proc.stdout.readline(), timeout=20)
        assert f"http://127.0.0.1:{port}" in first.decode()
        root = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                stats = await get_json(root, "/__mock/stats")
                break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
        assert stats["requests"] == 0
    finally:
        proc.terminate()
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=20)
    assert stdout.strip() == b""
    assert stderr == b""


async def test_retry_after_answers_429_with_the_header_and_control_changes_it_while_running() -> (
    None
):
    async with serve(build_app(retry_after_s=5)) as root:
        sdk = openai.AsyncOpenAI(base_url=f"{root}/v1", api_key="sk-test", max_retries=0)
        with pytest.raises(openai.RateLimitError) as limited:
            await sdk.chat.completions.create(
                model="m1", messages=[{"role": "user", "content": "hi"}]
            )
        assert limited.value.response.headers["retry-after"] == "5"

        async with aiohttp.ClientSession() as http:
            changed = await http.post(f"{root}/__mock/control", json={"retry_after_s": None})
            assert changed.status == 200
            refused = await http.post(f"{root}/__mock/control", data=b"[1]")
            assert refused.status == 400
        reply = await sdk.chat.completions.create(
            model="m1", messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.choices[0].message.content == REPLY
        await sdk.close()
