"""Ledger events as OTLP log records: a tracked consumer per log, over OTLP/HTTP.

Configured by the standard variables: on when `OTEL_LOGS_EXPORTER` names `otlp` or an
OTLP endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`;
headers, timeout and compression from the SDK's own `OTEL_EXPORTER_OTLP_*`), and never
when `OTEL_LOGS_EXPORTER=none` or `OTEL_SDK_DISABLED=true`.

Each batch is exported synchronously before its position commits, so delivery is at least
once; every record carries the event's stable id (`<stream id>:<version>`) as
`log.record.uid`. Records are built from the SIEM `fact` of the event, which drops every
field named like a credential.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from eventsourcing.persistence import Notification

from govledger.exporters.consumer import Decode
from govledger.exporters.siem_formats import Fact, decoded, degraded, fact
from govledger.ledger.money import json_default
from govledger.projections.database import Cursor, OnRebuild

SERVICE = "govledger"
NAME = "otlp_logs"


class ExportError(Exception):
    """The OTLP receiver did not take a batch (its position is kept, to retry)."""


def otlp_configured(signal: str, env: Mapping[str, str] | None = None) -> bool:
    """True when the environment asks for OTLP export of `signal` (`traces` or `logs`)."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    chosen = {
        name.strip().lower()
        for name in env.get(f"OTEL_{signal.upper()}_EXPORTER", "").split(",")
        if name.strip()
    }
    if chosen:
        return "otlp" in chosen
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
    )


def otel_resource() -> Any:
    """The SDK resource from `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES`; the service
    is `govledger` when neither names one."""
    from opentelemetry.sdk.resources import Resource

    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": SERVICE}))
    return resource


def log_records(app: str, notes: Sequence[Notification], decode: Decode) -> list[Any]:
    """The SDK log records of a batch (event time, severity by outcome, redacted body)."""
    from opentelemetry._logs import LogRecord, SeverityNumber
    from opentelemetry.sdk._logs import ReadableLogRecord
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    resource = otel_resource()
    scope = InstrumentationScope("govledger.ledger")

    def record_of(f: Fact) -> Any:
        failure = f.outcome == "failure"
        return LogRecord(
            timestamp=f.at_ms * 1_000_000,
            severity_text="WARN" if failure else "INFO",
            severity_number=SeverityNumber.WARN if failure else SeverityNumber.INFO,
            body=orjson.dumps(f.details, default=json_default).decode(),
            event_name=f"govledger.{f.action}",
            attributes={
                "log.record.uid": f.id,
                "event.name": f"govledger.{f.action}",
                "event.outcome": f.outcome,
                "govledger.event_id": f.id,
                "govledger.log": app,
                "govledger.position": f.position,
                "govledger.actor": f.actor,
                **({"govledger.user_id": f.user_id} if f.user_id else {}),
                "govledger.resource_type": f.resource_type,
                "govledger.resource_id": f.resource_id,
                "govledger.message": f.message.strip(),
            },
        )

    records = []
    for note in notes:
        event = decoded(note, decode)
        try:
            if isinstance(event, Exception):
                raise event
            record = record_of(fact(app, note.id, event))
        except Exception as error:  # one event's data: its degraded record, and go on
            known = None if isinstance(event, Exception) else event
            record = record_of(degraded(app, note, known, error))
        records.append(ReadableLogRecord(record, resource, scope))
    return records


class OtlpLogs:
    """A tracked consumer exporting one log's events to the OTLP logs endpoint."""

    def __init__(self, app: str, exporter: Any = None) -> None:
        self.name = NAME
        self.app = app
        self.on_rebuild: OnRebuild = "keep"  # delivery: a rebuild never exports again
        self.tables: tuple[str, ...] = ()
        self._exporter = exporter

    @property
    def exporter(self) -> Any:
        """The OTLP HTTP exporter, built on first use (in the consumer's thread)."""
        if self._exporter is None:
            from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

            self._exporter = OTLPLogExporter()
        return self._exporter

    def process(self, cur: Cursor, notes: Sequence[Notification], decode: Decode) -> None:
        """Export the batch; raises ExportError (keeping the position) if it was not taken."""
        from opentelemetry.sdk._logs.export import LogRecordExportResult

        result = self.exporter.export(log_records(self.app, notes, decode))
        if result != LogRecordExportResult.SUCCESS:
            raise ExportError(f"the OTLP receiver did not take {len(notes)} {self.app} events")
