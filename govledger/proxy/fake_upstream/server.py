"""Fake OpenAI / Anthropic / Gemini upstream (aiohttp) for demos, tests and benchmarks.

Point SDKs at it: OpenAI base_url `http://host:port/v1`, Anthropic and Gemini `http://host:port`.

Replies are deterministic:
- text: "Hello from the mock upstream.", unless the last user message's text starts with
  "echo:", in which case the reply is the rest of that text, surrounding whitespace stripped.
- input tokens = max(1, ceil(UTF-8 bytes of all prompt text / 4)); prompt text is every text
  part of every message, plus `instructions` (Responses), `system` (Anthropic) and
  `systemInstruction` (Gemini). Embeddings: the same per string input (len for token arrays).
- tool calls and JSON-schema structured output: see `fake_upstream.tools` (a forced tool
  choice or a `tool:` prompt calls a tool with arguments made from its schema; after a tool
  result the reply is `Tool said: <result>`; a response schema makes the reply its instance).
  A tool call's output tokens are ceil(bytes of its arguments' JSON / 4).
- output tokens = max(1, min(words in the reply, max_tokens / max_completion_tokens /
  max_output_tokens / generationConfig.maxOutputTokens)); the text itself is never cut.
- cached, cache-creation and reasoning token figures are always 0.

Controls: a model name containing `fail500` / `fail429` answers with that status in the
vendor's error shape, `garbage` answers 200 `not json at all`, `slow` waits 2 s first; the
request header `x-mock-fail: 500|429|garbage|slow` does the same. `fail_rate` turns that
fraction of requests into 503s (RNG seeded with `seed`, 0 when None); `latency_ms` delays
every response, and stream chunks by a tenth of it. `retry_after_s` answers every request
429 with that `Retry-After`. `POST /__mock/control` with `{"latency_ms", "fail_rate",
"retry_after_s"}` (any of them; `retry_after_s` null stops the 429s) changes them while
running. `GET /__mock/stats` reports `{"requests", "by_path", "last_headers", "arrivals",
"rate_limited_at"}` (the last two: wall-clock times of the latest 10,000 arrivals and 429s);
`POST /__mock/reset` clears them.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import orjson
from aiohttp import web
from multidict import CIMultiDictProxy

from govledger.proxy.fake_upstream import replies as mr
from govledger.proxy.fake_upstream import tools as mt
from govledger.proxy.fake_upstream.replies import Json

Vendor = Literal["openai", "anthropic", "gemini"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_CONTROLS = ("fail500", "fail429", "garbage", "slow")
_HEADER_CONTROLS = {"500": "fail500", "429": "fail429", "garbage": "garbage", "slow": "slow"}
_SLOW_SECONDS = 2.0
_TIMES_KEPT = 10_000  # arrival and 429 times kept for /__mock/stats
# Never below the gateway's own limit (4 MiB by default), or the fake would refuse what the
# gateway forwards; translation can add a little, so well above it.
MAX_BODY_BYTES = 64 * 2**20
_JSON = "application/json"
_SSE = "text/event-stream"
MODELS = (
    "gpt-4o-mini",
    "gpt-4o",
    "claude-sonnet-4-5",
    "gemini-2.5-flash",
    "text-embedding-3-small",
)


def _models_list(anthropic: bool) -> bytes:
    """GET /v1/models body in the OpenAI or Anthropic shape."""
    if anthropic:
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in MODELS
        ]
        return orjson.dumps(
            {"data": data, "has_more": False, "first_id": MODELS[0], "last_id": MODELS[-1]}
        )
    items = [
        {"id": m, "object": "model", "created": 1735689600, "owned_by": "mock"} for m in MODELS
    ]
    return orjson.dumps({"object": "list", "data": items})


_OPENAI_MODELS = _models_list(anthropic=False)
_ANTHROPIC_MODELS = _models_list(anthropic=True)


def _json(payload: bytes, status: int = 200) -> web.Response:
    """A JSON response from pre-serialised bytes."""
    return web.Response(body=payload, status=status, content_type=_JSON)


def _error(
    vendor: Vendor, status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """A vendor-shaped error response."""
    response = _json(mr.error_body(vendor, status, message), status)
    response.headers.update(headers or {})
    return response


def _control(model: str, header: str | None) -> str | None:
    """The failure control requested by the x-mock-fail header or the model name."""
    forced = _HEADER_CONTROLS.get(header.strip().lower()) if header else None
    return forced or next((c for c in _CONTROLS if c in model), None)


def _reply(
    texts: list[str],
    last_user: str,
    cap: object,
    call: mt.ToolCall | None,
    tool_result: str | None,
    schema: Any,
) -> mr.Reply:
    """The reply of a request: a tool call's token figures, the text after a tool result,
    a schema instance, or the text rules."""
    if call is not None:
        return mr.reply_of(texts, "", cap, call.output_tokens)
    if tool_result is not None:
        return mr.reply_of(texts, mt.AFTER_TOOL + tool_result, cap)
    if schema is not None:
        return mr.reply_of(texts, mt.structured_text(schema), cap)
    return mr.make_reply(texts, last_user, cap)


class MockUpstream:
    """Request handlers plus the counters and failure settings they share."""

    def __init__(
        self,
        latency_ms: float,
        fail_rate: float,
        seed: int | None,
        retry_after_s: float | None = None,
    ) -> None:
        self.latency_s = max(0.0, latency_ms) / 1000
        self.chunk_delay_s = self.latency_s / 10
        self.fail_rate = fail_rate
        self.retry_after_s = retry_after_s
        self.rng = random.Random(0 if seed is None else seed)
        self.seq = 0
        self.requests = 0
        self.by_path: dict[str, int] = {}
        self.last_headers: CIMultiDictProxy[str] | None = None
        # Wall-clock times of the latest requests' arrivals and of the 429s answered (bounded).
        self.arrivals: deque[float] = deque(maxlen=_TIMES_KEPT)
        self.rate_limited_at: deque[float] = deque(maxlen=_TIMES_KEPT)

    # ------------------------------------------------------------ plumbing

    def _next_id(self, prefix: str) -> str:
        """A fresh response id, unique within this app."""
        self.seq += 1
        return f"{prefix}mock{self.seq}"

    async def _prelude(
        self, request: web.Request, vendor: Vendor, model: str | None = None
    ) -> tuple[Json, str] | web.Response:
        """Count the request, parse its body, apply latency and failure controls."""
        self.requests += 1
        self.arrivals.append(time.time())
        self.by_path[request.path] = self.by_path.get(request.path, 0) + 1
        self.last_headers = request.headers
        random_fail = self.fail_rate > 0 and self.rng.random() < self.fail_rate
        body: Json = {}
        if request.body_exists:
            try:
                parsed: Any = orjson.loads(await request.read())
            except orjson.JSONDecodeError:
                return _error(vendor, 400, "Request body is not valid JSON.")
            if not isinstance(parsed, dict):
                return _error(vendor, 400, "Request body must be a JSON object.")
            body = parsed
        if model is None:
            model = str(body.get("model") or "")
        control = _control(model, request.headers.get("x-mock-fail"))
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if self.retry_after_s is not None:
            retry = {"Retry-After": f"{self.retry_after_s:g}"}
            self.rate_limited_at.append(time.time())
            return _error(vendor, 429, "Rate limit reached (mock upstream).", retry)
        if control == "slow":
            await asyncio.sleep(_SLOW_SECONDS)
        elif control == "fail500":
            return _error(vendor, 500, "The mock upstream had an internal error.")
        elif control == "fail429":
            return _error(vendor, 429, "Rate limit reached (mock upstream).")
        elif control == "garbage":
            return _json(b"not json at all")
        if random_fail:
            return _error(vendor, 503, "The mock upstream is temporarily unavailable.")
        return body, model

    async def _stream(
        self, request: web.Request, frames: list[bytes], content_type: str = _SSE
    ) -> web.StreamResponse:
        """Send frames chunked, pausing between them when latency is configured."""
        resp = web.StreamResponse(headers={"Cache-Control": "no-cache"})
        resp.content_type = content_type
        await resp.prepare(request)
        try:
            if self.chunk_delay_s:
                for i, frame in enumerate(frames):
                    if i:
                        await asyncio.sleep(self.chunk_delay_s)
                    await resp.write(frame)
            else:
                await resp.write(b"".join(frames))
            await resp.write_eof()
        except ConnectionResetError:
            pass
        return resp

    # ------------------------------------------------------------ OpenAI

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        """POST /v1/chat/completions, plain or streaming."""
        pre = await self._prelude(request, "openai")
        if isinstance(pre, web.Response):
            return pre
        body, model = pre
        texts, last_user = mr.openai_chat_texts(body)
        cap = body.get("max_completion_tokens", body.get("max_tokens"))
        result = mt.openai_tool_result(body)
        call = mt.choose(
            mt.openai_tools(body), mt.openai_forced(body), last_user, result is not None
        )
        reply = _reply(texts, last_user, cap, call, result, mt.openai_schema(body))
        rid, created = self._next_id("chatcmpl-"), int(time.time())
        call_id = "call_" + rid
        if body.get("stream") is True:
            options = body.get("stream_options")
            usage = isinstance(options, dict) and options.get("include_usage") is True
            deltas = mt.openai_call_deltas(call, call_id) if call else None
            frames = mr.chat_frames(model, reply, rid, created, usage, deltas)
            return await self._stream(request, frames)
        message = mt.openai_call_message(call, call_id) if call else None
        return _json(orjson.dumps(mr.chat_completion(model, reply, rid, created, message)))

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        """POST /v1/embeddings."""
        pre = await self._prelude(request, "openai")
        if isinstance(pre, web.Response):
            return pre
        return _json(orjson.dumps(mr.embeddings(pre[0])))

    async def responses(self, request: web.Request) -> web.StreamResponse:
        """POST /v1/responses, plain or streaming."""
        pre = await self._prelude(request, "openai")
        if isinstance(pre, web.Response):
            return pre
        body, model = pre
        texts, last_user = mr.responses_texts(body)
        reply = mr.make_reply(texts, last_user, body.get("max_output_tokens"))
        rid, created = self._next_id("resp_"), int(time.time())
        if body.get("stream") is True:
            return await self._stream(request, mr.response_frames(body, model, reply, rid, created))
        return _json(orjson.dumps(mr.response_object(body, model, reply, rid, created, True)))

    async def models(self, request: web.Request) -> web.StreamResponse:
        """GET /v1/models, in the Anthropic shape when an anthropic-version header is sent."""
        anthropic = "anthropic-version" in request.headers
        pre = await self._prelude(request, "anthropic" if anthropic else "openai")
        if isinstance(pre, web.Response):
            return pre
        return _json(_ANTHROPIC_MODELS if anthropic else _OPENAI_MODELS)

    # ------------------------------------------------------------ Anthropic

    async def messages(self, request: web.Request) -> web.StreamResponse:
        """POST /v1/messages, plain or streaming."""
        pre = await self._prelude(request, "anthropic")
        if isinstance(pre, web.Response):
            return pre
        body, model = pre
        texts, last_user = mr.anthropic_texts(body)
        result = mt.anthropic_tool_result(body)
        call = mt.choose(
            mt.anthropic_tools(body), mt.anthropic_forced(body), last_user, result is not None
        )
        schema = mt.anthropic_schema(body)
        reply = _reply(texts, last_user, body.get("max_tokens"), call, result, schema)
        rid = self._next_id("msg_")
        use = mt.anthropic_tool_use(call, "toolu_" + rid) if call else None
        if body.get("stream") is True:
            return await self._stream(request, mr.anthropic_frames(model, reply, rid, use))
        return _json(orjson.dumps(mr.anthropic_message(model, reply, rid, tool_use=use)))

    # ------------------------------------------------------------ Gemini

    async def gemini(self, request: web.Request) -> web.StreamResponse:
        """POST /v1beta|v1/models/{model}:generateContent or :streamGenerateContent."""
        model, _, method = request.match_info["tail"].rpartition(":")
        if method not in ("generateContent", "streamGenerateContent") or not model:
            return _error("gemini", 400, f"Unsupported method {method!r}.")
        pre = await self._prelude(request, "gemini", model)
        if isinstance(pre, web.Response):
            return pre
        body = pre[0]
        texts, last_user = mr.gemini_texts(body)
        config = body.get("generationConfig")
        cap = config.get("maxOutputTokens") if isinstance(config, dict) else None
        result = mt.gemini_tool_result(body)
        call = mt.choose(
            mt.gemini_tools(body), mt.gemini_forced(body), last_user, result is not None
        )
        reply = _reply(texts, last_user, cap, call, result, mt.gemini_schema(body))
        rid = self._next_id("")
        fc = {"name": call.name, "args": call.arguments} if call else None
        if method == "generateContent" or fc:
            out = mr.gemini_response(model, reply, rid, reply.text, reply.output_tokens, True, fc)
            if method == "generateContent":
                return _json(orjson.dumps(out))
            chunks = [out]
        else:
            chunks = mr.gemini_chunks(model, reply, rid)
        if request.query.get("alt") == "sse":
            return await self._stream(request, [mr.sse(c) for c in chunks])
        parts = [orjson.dumps(c) for c in chunks]
        frames = [b"[" + parts[0], *(b",\r\n" + p for p in parts[1:]), b"]"]
        return await self._stream(request, frames, _JSON)

    # ------------------------------------------------------------ mock control

    async def stats(self, request: web.Request) -> web.StreamResponse:
        """GET /__mock/stats: request counters and the last request's headers."""
        headers = {k.lower(): v for k, v in (self.last_headers or {}).items()}
        payload = {
            "requests": self.requests,
            "by_path": self.by_path,
            "last_headers": headers,
            "arrivals": list(self.arrivals),
            "rate_limited_at": list(self.rate_limited_at),
        }
        return _json(orjson.dumps(payload))

    async def control(self, request: web.Request) -> web.StreamResponse:
        """POST /__mock/control: change latency, failure rate or the 429s while running."""
        try:
            wanted = orjson.loads(await request.read())
            if not isinstance(wanted, dict):
                raise TypeError("not an object")
            if "latency_ms" in wanted:
                self.latency_s = max(0.0, float(wanted["latency_ms"])) / 1000
                self.chunk_delay_s = self.latency_s / 10
            if "fail_rate" in wanted:
                self.fail_rate = float(wanted["fail_rate"])
            if "retry_after_s" in wanted:
                retry = wanted["retry_after_s"]
                self.retry_after_s = None if retry is None else float(retry)
        except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError):
            return _error("openai", 400, "Expected a JSON object of numbers.")
        return _json(b'{"ok":true}')

    async def reset(self, request: web.Request) -> web.StreamResponse:
        """POST /__mock/reset: clear the counters."""
        self.requests = 0
        self.by_path = {}
        self.last_headers = None
        self.arrivals.clear()
        self.rate_limited_at.clear()
        return _json(b'{"ok":true}')


MOCK_KEY = web.AppKey("mock_upstream", MockUpstream)


def build_app(
    latency_ms: float = 0,
    fail_rate: float = 0.0,
    seed: int | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    retry_after_s: float | None = None,
) -> web.Application:
    """Build the mock upstream application (bodies up to `max_body_bytes`)."""
    mock = MockUpstream(latency_ms, fail_rate, seed, retry_after_s)
    app = web.Application(client_max_size=max_body_bytes)
    app[MOCK_KEY] = mock
    routes: list[tuple[str, str, Handler]] = [
        ("POST", "/v1/chat/completions", mock.chat_completions),
        ("POST", "/v1/embeddings", mock.embeddings),
        ("POST", "/v1/responses", mock.responses),
        ("GET", "/v1/models", mock.models),
        ("POST", "/v1/messages", mock.messages),
        ("POST", "/v1beta/models/{tail}", mock.gemini),
        ("POST", "/v1/models/{tail}", mock.gemini),
        ("GET", "/__mock/stats", mock.stats),
        ("POST", "/__mock/reset", mock.reset),
        ("POST", "/__mock/control", mock.control),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    return app


def run(
    host: str,
    port: int,
    latency_ms: float,
    fail_rate: float,
    sock: socket.socket | None = None,
    retry_after_s: float | None = None,
) -> None:
    """Serve the mock upstream until interrupted, printing one line; on `sock` if given
    (bound by the caller, so a busy port is its error), else on host:port."""
    app = build_app(latency_ms, fail_rate, retry_after_s=retry_after_s)
    if sock is None:
        sock = socket.create_server((host, port))
    print(f"govledger mock upstream listening on http://{host}:{port}", flush=True)
    web.run_app(app, sock=sock, print=None, access_log=None)
