"""A bounded load generator: a fixed number of requests, a concurrency, a deadline and a
seed; plain and streaming calls on the OpenAI, Anthropic and Gemini surfaces.

Each request leaves a `RequestRecord`: its status, how its body ended, the request id and
cost the gateway told the client, and the time to the response head. `BackgroundLoad` runs
the plan in a thread of its own so that the test can kill the server in the middle of it.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp
import orjson

from tests.e2e.openai_support import KEY

COST_NOTE = b": govledger-cost-usd "
SURFACES = ("openai", "anthropic", "gemini")


@dataclass(frozen=True)
class LoadPlan:
    """What to send: `requests` calls, `concurrency` at a time, a share of them streamed."""

    requests: int = 200
    concurrency: int = 16
    stream_share: float = 0.5
    surfaces: tuple[str, ...] = ("openai",)
    seed: int = 0
    deadline_s: float = 30.0  # no request starts after this; each is cut at the remainder
    request_timeout_s: float = 15.0
    key: str = KEY
    model: str = "m1"
    max_tokens: int = 16


@dataclass
class RequestRecord:
    """What the client saw of one request.

    `ending`: `complete` (a plain body read whole, or a stream's final event), `error_event`
    (a stream that ended with an error event), `cut` (the body or stream ended early),
    `no_response` (no response head), `not_sent` (the deadline passed first).
    """

    index: int
    surface: str
    stream: bool
    status: int | None = None
    ending: str = "not_sent"
    request_id: str | None = None
    cost: Decimal | None = None  # x-govledger-cost-usd, or a stream's cost note
    began: float | None = None  # time.monotonic() when it was sent
    head_s: float | None = None  # from sending to the response head
    total_s: float | None = None
    error: str | None = None
    body: bytes = b""

    @property
    def served(self) -> bool:
        """A 200 whose body arrived whole: the gateway promised it is in the ledger."""
        return self.status == 200 and self.ending == "complete"


@dataclass
class LoadResult:
    """Every record of a run, and its wall time."""

    records: list[RequestRecord]
    seconds: float

    def count(self, **match: Any) -> int:
        """How many records have all the given attribute values (e.g. `ending="cut"`)."""
        return sum(all(getattr(r, k) == v for k, v in match.items()) for r in self.records)

    @property
    def served(self) -> list[RequestRecord]:
        """The records of served requests."""
        return [r for r in self.records if r.served]

    def in_flight_at(self, moment: float) -> int:
        """Requests sent before `moment` (time.monotonic()) and not finished by then."""
        return sum(
            r.began is not None
            and r.began <= moment
            and (r.total_s is None or r.began + r.total_s > moment)
            for r in self.records
        )

    def statuses(self) -> dict[int | None, int]:
        """How many records per HTTP status (None: no response head)."""
        counts: dict[int | None, int] = {}
        for record in self.records:
            counts[record.status] = counts.get(record.status, 0) + 1
        return counts


def _request(
    plan: LoadPlan, surface: str, stream: bool, index: int
) -> tuple[str, bytes, dict[str, str]]:
    """(path, body, headers) of one call."""
    text = f"echo: load request {index} of seed {plan.seed}"
    if surface == "openai":
        body: dict[str, Any] = {
            "model": plan.model,
            "messages": [{"role": "user", "content": text}],
            "max_tokens": plan.max_tokens,
        }
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        headers = {"authorization": f"Bearer {plan.key}"}
        return "/v1/chat/completions", orjson.dumps(body), headers
    if surface == "anthropic":
        body = {
            "model": plan.model,
            "max_tokens": plan.max_tokens,
            "messages": [{"role": "user", "content": text}],
            "stream": stream,
        }
        headers = {"x-api-key": plan.key, "anthropic-version": "2023-06-01"}
        return "/anthropic/v1/messages", orjson.dumps(body), headers
    if surface == "gemini":
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        body = {
            "contents": [{"role": "user", "parts": [{"text": text}]}],
            "generationConfig": {"maxOutputTokens": plan.max_tokens},
        }
        path = f"/genai/v1beta/models/{plan.model}:{method}"
        return path, orjson.dumps(body), {"x-goog-api-key": plan.key}
    raise ValueError(f"unknown surface {surface!r}")


def stream_ending(surface: str, data: bytes) -> str:
    """`complete`, `error_event` or `cut`, from the whole text of an SSE stream."""
    events = [e for e in data.replace(b"\r\n", b"\n").split(b"\n\n") if e.strip()]
    if any(_is_error(surface, e) for e in events):
        return "error_event"
    if not data.endswith(b"\n\n") or not events:
        return "cut"
    last = events[-1]
    if surface == "openai":
        done = last.strip() == b"data: [DONE]"
    elif surface == "anthropic":
        done = last.startswith(b"event: message_stop")
    else:
        done = b'"finishReason"' in last
    return "complete" if done else "cut"


def _is_error(surface: str, event: bytes) -> bool:
    if surface == "anthropic":
        return event.startswith(b"event: error")
    return event.startswith(b'data: {"error"')


def _cost_note(data: bytes) -> Decimal | None:
    start = data.find(COST_NOTE)
    if start < 0:
        return None
    end = data.find(b"\n", start)
    try:
        return Decimal(data[start + len(COST_NOTE) : end].decode())
    except (InvalidOperation, UnicodeDecodeError):
        return None


def _header_cost(value: str | None) -> Decimal | None:
    try:
        return Decimal(value) if value is not None else None
    except InvalidOperation:
        return None


async def _one(
    session: aiohttp.ClientSession, base: str, plan: LoadPlan, record: RequestRecord, left: float
) -> None:
    path, body, headers = _request(plan, record.surface, record.stream, record.index)
    headers["content-type"] = "application/json"
    began = record.began = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=min(plan.request_timeout_s, max(left, 0.1)))
    try:
        async with session.post(base + path, data=body, headers=headers, timeout=timeout) as resp:
            record.status = resp.status
            record.head_s = time.monotonic() - began
            record.request_id = resp.headers.get("x-govledger-request-id")
            record.cost = _header_cost(resp.headers.get("x-govledger-cost-usd"))
            record.ending = "cut"
            data = b""
            async for chunk in resp.content.iter_any():
                data += chunk
            record.body = data[-4000:]
            if record.stream and resp.status == 200:
                record.ending = stream_ending(record.surface, data)
                record.cost = _cost_note(data)
            else:
                record.ending = "complete"
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        record.error = f"{type(error).__name__}: {error}"[:300]
        if record.status is None:
            record.ending = "no_response"
    record.total_s = time.monotonic() - began


async def run_load(base_url: str, plan: LoadPlan, progress: list[RequestRecord]) -> LoadResult:
    """Send the plan to a gateway; `progress` receives each record as it finishes."""
    rng = random.Random(plan.seed)
    records = [
        RequestRecord(i, rng.choice(plan.surfaces), rng.random() < plan.stream_share)
        for i in range(plan.requests)
    ]
    queue: asyncio.Queue[RequestRecord] = asyncio.Queue()
    for record in records:
        queue.put_nowait(record)
    began = time.monotonic()
    end = began + plan.deadline_s
    connector = aiohttp.TCPConnector(limit=plan.concurrency, force_close=False)

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            record = queue.get_nowait()
            left = end - time.monotonic()
            if left <= 0:
                continue  # stays `not_sent`
            await _one(session, base_url, plan, record, left)
            progress.append(record)

    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(plan.concurrency)))
    return LoadResult(records, time.monotonic() - began)


@dataclass
class BackgroundLoad:
    """`run_load` in a thread of its own (its own event loop), watched from the test."""

    base_url: str
    plan: LoadPlan
    finished: list[RequestRecord] = field(default_factory=list)
    result: LoadResult | None = None
    failure: BaseException | None = None
    _thread: threading.Thread | None = None

    def start(self) -> BackgroundLoad:
        """Start sending."""

        def run() -> None:
            try:
                self.result = asyncio.run(run_load(self.base_url, self.plan, self.finished))
            except BaseException as error:  # reported by join()
                self.failure = error

        self._thread = threading.Thread(target=run, name="fault-load", daemon=True)
        self._thread.start()
        return self

    def served_so_far(self) -> int:
        """Requests served (200, whole) until now."""
        return sum(r.served for r in list(self.finished))

    def wait_served(self, count: int, timeout: float) -> int:
        """Block until `count` requests were served (or the load ended); returns the count."""
        deadline = time.monotonic() + timeout
        while self.served_so_far() < count:
            if self._thread is None or not self._thread.is_alive():
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.served_so_far()} of {count} served in {timeout}s")
            time.sleep(0.005)
        return self.served_so_far()

    def join(self, timeout: float | None = None) -> LoadResult:
        """Wait for the plan to finish (bounded by its deadline) and return every record."""
        assert self._thread is not None, "start() first"
        self._thread.join(timeout if timeout is not None else self.plan.deadline_s + 30)
        if self._thread.is_alive():
            raise AssertionError("the load generator did not finish within its bound")
        if self.failure is not None:
            raise AssertionError(f"the load generator failed: {self.failure!r}")
        assert self.result is not None
        return self.result
