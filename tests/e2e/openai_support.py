"""Helpers of the OpenAI-surface end-to-end tests: configs, clients, raw HTTP, ledger reads.

Token figures of the fake upstream (see `proxy.mock_upstream`): input tokens are
ceil(prompt bytes / 4) (at least 1), output tokens the reply's words capped by max_tokens
(at least 1); the default reply is "Hello from the mock upstream." (5 words).
"""

from __future__ import annotations

import asyncio
import http.client
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import openai
import orjson
import pytest
from aiohttp import web
from openai.types.chat import ChatCompletionMessageParam

from govledger.ledger import events as ev
from govledger.projections.database import ViewDatabase
from govledger.proxy.fake_upstream.server import build_app
from tests.conftest import RunningGateway, free_port, start_gateway
from tests.loops import close_loop

T = TypeVar("T")

KEY = "sk-bf-e2e-openai-key-0001"
OTHER_KEY = "sk-bf-e2e-openai-key-0002"
HELLO = "Hello from the mock upstream."
HELLO_WORDS = 5
# Prices with many digits, so that any rounding anywhere would show.
INPUT_PRICE = Decimal("1.234567")
OUTPUT_PRICE = Decimal("9.876543")
MILLION = Decimal(1_000_000)
PRICED_MODELS = ("m1", "m2", "e1", "m1-fail500", "m1-fail429", "m1-garbage", "m1-slow")


def hi() -> list[ChatCompletionMessageParam]:
    """The smallest prompt: one user message `hi` (1 input token at the fake upstream)."""
    return [{"role": "user", "content": "hi"}]


def say(text: str) -> list[ChatCompletionMessageParam]:
    """A prompt whose reply is `text` (the fake upstream's `echo:` rule)."""
    return [{"role": "user", "content": f"echo: {text}"}]


def mock_tokens(prompt: str) -> int:
    """Input tokens the fake upstream reports for one prompt text."""
    return max(1, -(-len(prompt.encode()) // 4))


def cost_of(input_tokens: int, output_tokens: int) -> Decimal:
    """The exact cost of a call to a priced test model."""
    return (input_tokens * INPUT_PRICE + output_tokens * OUTPUT_PRICE) / MILLION


def chat_bound(prompt: str, max_tokens: int) -> Decimal:
    """The reservation of a one-message chat call (the gateway's byte-based token bound)."""
    input_bound = 16 + 8 + len(prompt.encode())
    return (input_bound * INPUT_PRICE + max_tokens * OUTPUT_PRICE) / MILLION


def provider(name: str = "mock", base_url: str = "{MOCK}/v1", **fields: Any) -> dict[str, Any]:
    """A provider of type openai with one upstream key (fields override)."""
    spec: dict[str, Any] = {
        "name": name,
        "type": "openai",
        "base_url": base_url,
        "keys": [{"id": f"{name}-key", "value": f"sk-upstream-{name}"}],
    }
    spec.update(fields)
    return spec


def virtual_key(
    key_id: str = "k1", value: str = KEY, providers: Iterable[str] = ("mock",), **fields: Any
) -> dict[str, Any]:
    """A virtual key routed to the named providers (fields override)."""
    spec: dict[str, Any] = {
        "id": key_id,
        "name": key_id,
        "value": value,
        "provider_configs": [{"provider": p} for p in providers],
    }
    spec.update(fields)
    return spec


def make_config(
    keys: list[dict[str, Any]] | None = None,
    providers: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A whole config: the test models priced, one mock provider and one key by default."""
    config: dict[str, Any] = {
        "providers": providers if providers is not None else [provider()],
        "pricing_overrides": [
            {
                "provider": "openai",
                "model": model,
                "input_per_mtok": str(INPUT_PRICE),
                "output_per_mtok": str(OUTPUT_PRICE),
            }
            for model in PRICED_MODELS
        ],
        "virtual_keys": keys if keys is not None else [virtual_key()],
    }
    config.update(fields)
    return config


def budget(limit: str, duration: str = "1d", **fields: Any) -> dict[str, Any]:
    """A budget spec."""
    return {"max_limit": limit, "reset_duration": duration, **fields}


# --- clients ---------------------------------------------------------------------------


def client(
    gateway: RunningGateway, key: str = KEY, prefix: str = "/v1", **options: Any
) -> openai.OpenAI:
    """A sync SDK client on the gateway, without retries unless asked."""
    options.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=gateway.url + prefix, api_key=key, **options)


def async_client(
    gateway: RunningGateway, key: str = KEY, prefix: str = "/v1", **options: Any
) -> openai.AsyncOpenAI:
    """An async SDK client on the gateway, without retries unless asked."""
    options.setdefault("max_retries", 0)
    return openai.AsyncOpenAI(base_url=gateway.url + prefix, api_key=key, **options)


def error_body(error: openai.APIStatusError) -> dict[str, Any]:
    """The `error` object of an SDK error (the SDK unwraps `{"error": ...}`)."""
    body = error.body
    assert isinstance(body, dict), body
    return body


# --- raw HTTP --------------------------------------------------------------------------


@dataclass
class RawResponse:
    """A response read whole by `raw_request`; header names are lower case."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body decoded as JSON."""
        return orjson.loads(self.body)

    def error(self) -> dict[str, Any]:
        """The OpenAI error object, checked for its four fields."""
        payload = self.json()
        assert set(payload) == {"error"}, payload
        error: dict[str, Any] = payload["error"]
        assert set(error) == {"message", "type", "param", "code"}, error
        return error


def raw_request(
    gateway: RunningGateway,
    path: str,
    body: bytes | Iterable[bytes] | None = None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> RawResponse:
    """One HTTP request without the SDK; an iterable body is sent chunked."""
    parts = urlsplit(gateway.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        chunked = body is not None and not isinstance(body, bytes)
        conn.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        response = conn.getresponse()
        data = response.read()
        return RawResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


def chat_body(model: str = "m1", **fields: Any) -> bytes:
    """A chat completions request body."""
    return orjson.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}], **fields})


# --- the ledger and the views ----------------------------------------------------------


def usage_events(gateway: RunningGateway) -> list[ev.LedgerEvent]:
    """Every event of the usage log, in order."""
    return [event for _, event in gateway.runtime.store.iterate("usage")]


def of_type(gateway: RunningGateway, kind: type[T]) -> list[T]:
    """The usage events of one type."""
    return [e for e in usage_events(gateway) if isinstance(e, kind)]


def settled_for(gateway: RunningGateway, request_id: str) -> ev.RequestSettled:
    """The one settled event of a request; read at once, since it is committed before the
    response completes."""
    found = [e for e in of_type(gateway, ev.RequestSettled) if e.request_id == request_id]
    assert len(found) == 1, f"{len(found)} settled events for {request_id}"
    return found[0]


def admitted_for(gateway: RunningGateway, request_id: str) -> ev.RequestAdmitted:
    """The one admitted event of a request."""
    found = [e for e in of_type(gateway, ev.RequestAdmitted) if e.request_id == request_id]
    assert len(found) == 1, f"{len(found)} admitted events for {request_id}"
    return found[0]


def flush_ledger(gateway: RunningGateway) -> None:
    """Wait until everything queued to the writer so far is committed (it is FIFO)."""
    gateway.runtime.writer.append_sync("usage", [])


def wait_until(
    probe: Callable[[], T | None], timeout: float = 10.0, what: str = "a condition"
) -> T:
    """Poll `probe` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def nothing_held(gateway: RunningGateway) -> bool:
    """True when no request is in flight and no budget holds a reservation (in memory)."""
    usage = gateway.runtime.usage
    return not usage.inflight and all(b.reserved == 0 for b in usage.budgets.values())


@contextmanager
def caught_up_views(gateway: RunningGateway, timeout: float = 15.0) -> Iterator[ViewDatabase]:
    """The views' database once the usage tail has applied the whole usage log."""
    db = ViewDatabase(gateway.runtime.settings.database_url)
    try:
        last = gateway.runtime.store.max_position("usage")
        wait_until(
            lambda: db.position("usage", "usage") >= last, timeout, "the usage view to catch up"
        )
        yield db
    finally:
        db.close()


def view_budget(db: ViewDatabase, budget_id: str) -> tuple[Decimal, Decimal, int]:
    """(settled, reserved, requests) of a budget summed over its periods in gl_budget_usage."""
    rows = db.query(
        "SELECT settled, reserved, requests FROM gl_budget_usage WHERE budget = ?", (budget_id,)
    )
    settled = sum((Decimal(r[0]) for r in rows), Decimal(0))
    reserved = sum((Decimal(r[1]) for r in rows), Decimal(0))
    return settled, reserved, sum(int(r[2]) for r in rows)


# --- extra upstreams -------------------------------------------------------------------


@contextmanager
def serve(app: web.Application) -> Iterator[str]:
    """Serve an aiohttp app on a free port in a thread of its own; yields its base URL."""
    port = free_port()
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        close_loop(loop)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10), "the extra upstream did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def failing_upstream(status: int = 500) -> web.Application:
    """An upstream that answers every request with `status` in OpenAI's error shape."""

    async def fail(request: web.Request) -> web.Response:
        await request.read()
        body = {"error": {"message": "broken", "type": "server_error", "param": None, "code": None}}
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fail)
    return app


async def wait_until_async(
    probe: Callable[[], T | None], timeout: float = 10.0, what: str = "a condition"
) -> T:
    """`wait_until` for async tests: polls without blocking the event loop."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


def slow_stream_upstream(latency_ms: float = 200) -> web.Application:
    """The fake upstream with latency: `latency_ms` before answering, a tenth between chunks."""
    return build_app(latency_ms=latency_ms)


async def hang_up_after_first_event(
    gateway: RunningGateway, path: str, body: dict[str, Any], headers: dict[str, str]
) -> bytes:
    """Post a streaming request, read until the first SSE event, then close the connection."""
    async with aiohttp.ClientSession() as session:
        response = await session.post(gateway.url + path, json=body, headers=headers)
        assert response.status == 200, await response.read()
        received = b""
        while b"\n\n" not in received:
            received += await response.content.readany()
        response.close()
    return received


# --- one gateway for a whole module --------------------------------------------------------


@contextmanager
def module_gateway(
    tmp_path_factory: pytest.TempPathFactory, config: dict[str, Any], **settings: Any
) -> Iterator[RunningGateway]:
    """A gateway shared by a module's tests (each start costs about a second); the tests
    tell their own requests apart by request id or by `events_after(mark(...))`."""
    tmp = tmp_path_factory.mktemp("gateway")
    gateway = start_gateway(f"sqlite:///{tmp}/ledger.sqlite", config, tmp, **settings)
    try:
        yield gateway
    finally:
        gateway.stop()


def mark(gateway: RunningGateway) -> int:
    """The usage log's position now (commits are awaited, so nothing earlier is pending
    once every earlier request has been answered)."""
    flush_ledger(gateway)
    return int(gateway.runtime.store.max_position("usage"))


def events_after(gateway: RunningGateway, position: int, kind: type[T]) -> list[T]:
    """The usage events of one type appended after a position."""
    return [e for _, e in gateway.runtime.store.iterate("usage", position) if isinstance(e, kind)]
