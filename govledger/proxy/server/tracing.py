"""OpenTelemetry traces of inference requests, configured by the standard `OTEL_*` variables.

Off unless configured: `Tracing.start` builds a tracer provider with the OTLP HTTP
exporter only when `OTEL_TRACES_EXPORTER` names `otlp` or an OTLP endpoint is set (and
neither `OTEL_TRACES_EXPORTER=none` nor `OTEL_SDK_DISABLED=true` says otherwise). When off,
the request path checks `enabled` once and creates no span object at all.

One trace per request: a root span `<operation> <model>` (GenAI semantic conventions) with
the children `authenticate`, `admit`, one `upstream <provider>` per attempt, and `settle`,
whose child `ledger commit` covers the await of the settlement's commit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from govledger.exporters.otlp_logs import otel_resource, otlp_configured

SERVICE = "govledger"
OPERATIONS = {  # the call's surface -> gen_ai.operation.name
    "openai_embeddings": "embeddings",
    "gemini": "generate_content",
    "openai_models": "list_models",
}
SYSTEMS = {"gemini": "gcp.gemini", "vertex": "gcp.vertex_ai"}  # provider type -> gen_ai.system


def gen_ai_system(provider_type: str) -> str:
    """The `gen_ai.system` / `gen_ai.provider.name` value of a provider type."""
    return SYSTEMS.get(provider_type, provider_type)


class Tracing:
    """The tracer provider of one server; `enabled` is the only check on the hot path."""

    def __init__(self) -> None:
        self.enabled = False
        self._provider: Any = None
        self._tracer: Tracer | None = None

    def start(self, env: Mapping[str, str] | None = None) -> None:
        """Build the provider and its OTLP HTTP exporter if the environment configures one."""
        if not otlp_configured("traces", env):
            return
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=otel_resource())
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self._provider = provider
        self._tracer = provider.get_tracer("govledger.gateway")
        self.enabled = True

    def stop(self) -> None:
        """Export what is buffered and stop the exporter thread."""
        if self._provider is not None:
            self.enabled = False
            self._provider.shutdown()
            self._provider = None

    def request(self, surface: str, model: str) -> RequestTrace:
        """Start the root span of one request (call only when `enabled`)."""
        if self._tracer is None:  # pragma: no cover - guarded by `enabled`
            raise RuntimeError("tracing is not started")
        operation = OPERATIONS.get(surface, "chat")
        name = f"{operation} {model}" if model else operation
        root = self._tracer.start_span(name, kind=SpanKind.SERVER)
        root.set_attribute("gen_ai.operation.name", operation)
        root.set_attribute("govledger.surface", surface)
        return RequestTrace(self._tracer, root)


class RequestTrace:
    """The spans of one request, parented explicitly (streams settle in another task)."""

    def __init__(self, tracer: Tracer, root: Span) -> None:
        self.tracer = tracer
        self.root = root
        self.context = trace.set_span_in_context(root)
        self.ended = False

    @contextmanager
    def span(self, name: str, parent: Span | None = None) -> Iterator[Span]:
        """A child span (of the root, or of `parent`) around a block; errors are recorded."""
        context = self.context if parent is None else trace.set_span_in_context(parent)
        with self.tracer.start_as_current_span(name, context=context) as span:
            yield span

    def request(self, model: str, body: Mapping[str, Any], request_id: str) -> None:
        """The request's GenAI attributes (after parsing)."""
        root = self.root
        root.set_attribute("gen_ai.request.model", model)
        root.set_attribute("govledger.request_id", request_id)
        for field, attribute in (
            ("max_tokens", "gen_ai.request.max_tokens"),
            ("max_completion_tokens", "gen_ai.request.max_tokens"),
            ("max_output_tokens", "gen_ai.request.max_tokens"),
            ("temperature", "gen_ai.request.temperature"),
            ("top_p", "gen_ai.request.top_p"),
        ):
            value = body.get(field)
            if isinstance(value, int | float) and not isinstance(value, bool):
                root.set_attribute(attribute, value)

    def attempts(
        self, started_ns: int, attempts: Sequence[Any], provider_types: Mapping[str, str]
    ) -> None:
        """One span per upstream attempt, laid end to end from when the chain was started."""
        at = started_ns
        for attempt in attempts:
            end = at + int(attempt.ms * 1_000_000)
            span = self.tracer.start_span(
                f"upstream {attempt.provider}",
                context=self.context,
                kind=SpanKind.CLIENT,
                start_time=at,
            )
            system = gen_ai_system(provider_types.get(attempt.provider, attempt.provider))
            span.set_attribute("gen_ai.system", system)
            span.set_attribute("gen_ai.provider.name", system)
            span.set_attribute("govledger.provider", attempt.provider)
            if attempt.status is not None:
                span.set_attribute("http.response.status_code", attempt.status)
            if attempt.error or (attempt.status is not None and attempt.status >= 400):
                span.set_attribute("error.type", attempt.error or str(attempt.status))
                span.set_status(Status(StatusCode.ERROR, attempt.error or None))
            span.end(end_time=end)
            at = end

    def settled(
        self,
        status: str,
        provider_type: str | None,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cost: str,
    ) -> None:
        """The outcome on the root span: provider, response model, usage and cost."""
        root = self.root
        if provider_type is not None:
            system = gen_ai_system(provider_type)
            root.set_attribute("gen_ai.system", system)
            root.set_attribute("gen_ai.provider.name", system)
            root.set_attribute("gen_ai.response.model", model)
            root.set_attribute("gen_ai.usage.input_tokens", input_tokens)
            root.set_attribute("gen_ai.usage.output_tokens", output_tokens)
        root.set_attribute("govledger.outcome", status)
        root.set_attribute("govledger.cost_usd", cost)
        if status != "ok":
            root.set_attribute("error.type", status)
            root.set_status(Status(StatusCode.ERROR, status))

    def refused(self, code: str, status: int) -> None:
        """A refusal before admission (or after, answered with an error)."""
        self.root.set_attribute("error.type", code)
        self.root.set_attribute("http.response.status_code", status)
        self.root.set_status(Status(StatusCode.ERROR, code))

    def end(self) -> None:
        """End the root span (once)."""
        if not self.ended:
            self.ended = True
            self.root.end()
