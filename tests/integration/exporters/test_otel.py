"""OpenTelemetry: a trace per request and the ledger's events as OTLP log records, sent by a
running gateway to an in-process OTLP/HTTP receiver that decodes them with opentelemetry-proto.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest
from aiohttp import web
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from govledger.exporters.otlp_logs import otlp_configured
from govledger.proxy.server.tracing import RequestTrace, Tracing
from tests.conftest import RunningGateway, free_port
from tests.integration.exporters.support import CONFIG, KEY, PROVIDER_SECRET
from tests.loops import close_loop

ADMIN = "gl-admin-otlp-test-token-0123456789abcdef"


@dataclass
class Receiver:
    """What the OTLP receiver was sent: spans and log records with their resources' names."""

    url: str
    spans: list[tuple[str, Span]] = field(default_factory=list)
    logs: list[tuple[str, LogRecord]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)


def value(item: AnyValue) -> Any:
    """The Python value of an OTLP AnyValue."""
    return getattr(item, item.WhichOneof("value") or "string_value")


def attributes(pairs: Any) -> dict[str, Any]:
    """OTLP key-values as a dict."""
    return {kv.key: value(kv.value) for kv in pairs}


def service(resource_attributes: list[KeyValue]) -> str:
    """The service.name of a resource."""
    return str(attributes(resource_attributes).get("service.name"))


@pytest.fixture
def otlp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """An OTLP/HTTP receiver (POST /v1/traces, /v1/logs) set as the OTEL_* endpoint.

    Request it before `gateway_factory`, so the gateways stop (and flush) before it does.
    """
    port = free_port()
    got = Receiver(f"http://127.0.0.1:{port}")
    ready = threading.Event()
    loop = asyncio.new_event_loop()

    async def traces(request: web.Request) -> web.Response:
        body = await request.read()
        got.bodies.append(body)
        message = ExportTraceServiceRequest.FromString(body)
        for resource in message.resource_spans:
            name = service(list(resource.resource.attributes))
            got.spans.extend((name, s) for scope in resource.scope_spans for s in scope.spans)
        return reply(ExportTraceServiceResponse())

    async def logs(request: web.Request) -> web.Response:
        body = await request.read()
        got.bodies.append(body)
        message = ExportLogsServiceRequest.FromString(body)
        for resource in message.resource_logs:
            name = service(list(resource.resource.attributes))
            got.logs.extend((name, r) for scope in resource.scope_logs for r in scope.log_records)
        return reply(ExportLogsServiceResponse())

    def reply(message: Message) -> web.Response:
        return web.Response(body=message.SerializeToString(), content_type="application/x-protobuf")

    async def serve() -> web.AppRunner:
        application = web.Application()
        application.router.add_post("/v1/traces", traces)
        application.router.add_post("/v1/logs", logs)
        runner = web.AppRunner(application, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner

    def run() -> None:
        asyncio.set_event_loop(loop)
        runner = loop.run_until_complete(serve())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        close_loop(loop)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", got.url)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "govledger-test")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")  # export spans within 50 ms
    yield got
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)


def wait_for(check: Callable[[], bool], seconds: float = 20) -> None:
    """Poll until `check` holds (or fail)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the OTLP receiver")


def chat_once(gateway: RunningGateway) -> tuple[str, Any]:
    """One chat completion; its request id and the SDK's response."""
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=KEY, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="m1", messages=[{"role": "user", "content": "hi"}], max_tokens=10, temperature=0.5
    )
    return raw.headers["x-govledger-request-id"], raw.parse()


def test_a_chat_request_is_one_trace_with_genai_attributes_and_its_token_figures(
    otlp: Receiver, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gateway = gateway_factory(CONFIG)
    request_id, response = chat_once(gateway)

    def root() -> Span | None:
        return next((s for _, s in otlp.spans if s.name == "chat m1"), None)

    wait_for(lambda: root() is not None and len(otlp.spans) >= 6)
    top = root()
    assert top is not None
    spans = [s for _, s in otlp.spans if s.trace_id == top.trace_id]
    by_name = {s.name: s for s in spans}
    assert sorted(by_name) == sorted(
        ["chat m1", "authenticate", "admit", "upstream mock", "settle", "ledger commit"]
    )
    assert len(spans) == 6
    assert top.parent_span_id == b""
    assert top.kind == Span.SPAN_KIND_SERVER
    for child in ("authenticate", "admit", "upstream mock", "settle"):
        assert by_name[child].parent_span_id == top.span_id, child
    assert by_name["ledger commit"].parent_span_id == by_name["settle"].span_id
    assert by_name["upstream mock"].kind == Span.SPAN_KIND_CLIENT
    order = [by_name[n].start_time_unix_nano for n in ("authenticate", "admit", "upstream mock")]
    assert order == sorted(order)
    assert by_name["upstream mock"].end_time_unix_nano <= by_name["settle"].start_time_unix_nano
    assert {name for name, _ in otlp.spans} == {"govledger-test"}

    found = attributes(top.attributes)
    assert found["gen_ai.operation.name"] == "chat"
    assert found["gen_ai.request.model"] == "m1"
    assert found["gen_ai.request.max_tokens"] == 10
    assert found["gen_ai.request.temperature"] == 0.5
    assert found["gen_ai.system"] == "openai"
    assert found["gen_ai.provider.name"] == "openai"
    assert found["gen_ai.response.model"] == response.model
    assert found["gen_ai.usage.input_tokens"] == response.usage.prompt_tokens
    assert found["gen_ai.usage.output_tokens"] == response.usage.completion_tokens
    assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens > 0
    assert found["govledger.request_id"] == request_id
    assert found["govledger.outcome"] == "ok"
    upstream = attributes(by_name["upstream mock"].attributes)
    assert upstream["http.response.status_code"] == 200
    assert upstream["gen_ai.system"] == "openai"


def test_a_refused_request_is_a_trace_whose_authenticate_span_failed(
    otlp: Receiver, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gateway = gateway_factory(CONFIG)
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-bf-nobody", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "x"}])

    wait_for(lambda: any(s.name == "chat m1" for _, s in otlp.spans))
    by_name = {s.name: s for _, s in otlp.spans}
    assert set(by_name) == {"chat m1", "authenticate"}
    assert by_name["authenticate"].status.code == by_name["chat m1"].status.code == 2  # ERROR
    assert attributes(by_name["chat m1"].attributes)["error.type"] == "virtual_key_not_found"


def test_ledger_events_arrive_as_log_records_with_their_stable_ids_and_no_secret(
    otlp: Receiver, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gateway = gateway_factory(CONFIG, admin_token=ADMIN)
    request_id, _ = chat_once(gateway)
    stream = uuid.UUID(request_id)

    def event_names() -> list[Any]:
        return [attributes(r.attributes).get("event.name") for _, r in otlp.logs]

    wait_for(lambda: f"{stream}:2" in log_uids(otlp))
    wait_for(lambda: "govledger.admin_token.created" in event_names())
    records = {str(attributes(r.attributes)["log.record.uid"]): r for _, r in otlp.logs}
    admitted = attributes(records[f"{stream}:1"].attributes)
    settled = attributes(records[f"{stream}:2"].attributes)
    assert admitted["event.name"] == "govledger.request.admitted"
    assert settled["event.name"] == "govledger.request.settled"
    assert settled["govledger.event_id"] == f"{stream}:2"
    assert settled["govledger.log"] == "usage"
    assert records[f"{stream}:2"].severity_text == "INFO"
    assert '"status":"ok"' in value(records[f"{stream}:2"].body)
    assert "govledger.virtual_key.created" in event_names()
    assert {name for name, _ in otlp.logs} == {"govledger-test"}
    assert len(log_uids(otlp)) == len(set(log_uids(otlp)))
    sent = b"".join(otlp.bodies)
    assert KEY.encode() not in sent
    assert PROVIDER_SECRET.encode() not in sent
    assert ADMIN.encode() not in sent


def log_uids(otlp: Receiver) -> list[str]:
    """The stable ids of the log records received, in order."""
    return [str(attributes(r.attributes).get("log.record.uid")) for _, r in otlp.logs]


def test_the_log_export_resumes_after_a_restart_without_sending_an_event_twice(
    otlp: Receiver, gateway_factory: Callable[..., RunningGateway]
) -> None:
    first = gateway_factory(CONFIG)
    one, _ = chat_once(first)
    wait_for(lambda: f"{uuid.UUID(one)}:2" in log_uids(otlp))
    first.stop()
    before = len(otlp.logs)
    second = gateway_factory(CONFIG)
    two, _ = chat_once(second)

    wait_for(lambda: f"{uuid.UUID(two)}:2" in log_uids(otlp))
    assert len(otlp.logs) > before
    assert len(log_uids(otlp)) == len(set(log_uids(otlp)))


def test_nothing_is_exported_unless_the_otel_variables_configure_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_EXPORTER", "OTEL_LOGS_EXPORTER"):
        monkeypatch.delenv(name, raising=False)
    tracing = Tracing()
    tracing.start()

    assert tracing.enabled is False
    assert otlp_configured("logs") is False  # so registry.tails adds no OtlpLogs consumer
    assert otlp_configured("traces", {}) is False
    assert otlp_configured("traces", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}) is True
    assert otlp_configured("logs", {"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://c"}) is True
    assert otlp_configured("traces", {"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://c"}) is False
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}
    assert otlp_configured("logs", {**endpoint, "OTEL_LOGS_EXPORTER": "none"}) is False
    assert otlp_configured("traces", {**endpoint, "OTEL_SDK_DISABLED": "true"}) is False
    assert otlp_configured("traces", {"OTEL_TRACES_EXPORTER": "console,otlp"}) is True


def test_a_streamed_chat_is_traced_until_its_settlement_in_the_stream(
    otlp: Receiver, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gateway = gateway_factory(CONFIG)
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=KEY, max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model="m1",
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=10,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    usage = next(c.usage for c in chunks if c.usage is not None)

    wait_for(lambda: any(s.name == "chat m1" for _, s in otlp.spans))
    by_name = {s.name: s for _, s in otlp.spans}
    assert {"authenticate", "admit", "upstream mock", "settle", "ledger commit"} <= set(by_name)
    top = by_name["chat m1"]
    assert by_name["settle"].parent_span_id == top.span_id
    assert by_name["ledger commit"].parent_span_id == by_name["settle"].span_id
    found = attributes(top.attributes)
    assert found["gen_ai.usage.input_tokens"] == usage.prompt_tokens
    assert found["gen_ai.usage.output_tokens"] == usage.completion_tokens


def test_with_tracing_off_a_request_makes_no_trace_at_all(
    gateway_factory: Callable[..., RunningGateway], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_EXPORTER", "OTEL_LOGS_EXPORTER"):
        monkeypatch.delenv(name, raising=False)

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("a span was made with tracing off")

    monkeypatch.setattr(Tracing, "request", refuse)
    monkeypatch.setattr(RequestTrace, "__init__", refuse)
    gateway = gateway_factory(CONFIG)

    _, response = chat_once(gateway)

    assert response.usage.completion_tokens > 0
