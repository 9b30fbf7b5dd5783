"""The tracked consumers the projection process runs, and the tables they need."""

from __future__ import annotations

import os

from govledger.exporters import alerts, audit_chain, metrics_fold, nats_export
from govledger.exporters.audit_chain import AuditChain
from govledger.exporters.consumer import Consumer, ConsumerTail, consume
from govledger.exporters.metrics_fold import MetricsFold
from govledger.exporters.nats_export import NatsExport, nats_configured, settings_from_env
from govledger.exporters.otlp_logs import OtlpLogs, otlp_configured
from govledger.exporters.siem_export import APPS, SiemExport
from govledger.exporters.siem_sinks import open_sink
from govledger.ledger.store import Store
from govledger.projections.database import ViewDatabase
from govledger.projections.rebuild import BATCH, Progress, Refold

TOPIC = "govledger.exporters.registry:tails"  # what proxy.runtime hands the projection process


def create_tables(db: ViewDatabase) -> None:
    """Create every consumer's tables (the server does this before the process starts)."""
    metrics_fold.create_tables(db)
    audit_chain.create_tables(db)
    alerts.create_tables(db)
    nats_export.create_tables(db)


def refolds() -> list[Refold]:
    """The consumers `govledger rebuild` folds again from event 1 (`on_rebuild = "refold"`).

    Only the metrics fold is: the audit chain is evidence and the SIEM, OTLP and alert
    consumers deliver outside the database, so all of them keep their rows and tables.
    """
    candidates: list[Consumer] = [MetricsFold(), AuditChain()]
    return [refold(c) for c in candidates if c.on_rebuild == "refold"]


def refold(consumer: Consumer) -> Refold:
    """A consumer as a rebuild's refold: its row, its tables, and `consume` as its fold."""

    def fold(store: Store, db: ViewDatabase, progress: Progress | None) -> int:
        return consume(store, db, consumer, batch_size=BATCH, progress=progress)

    return Refold(consumer.name, consumer.app, consumer.tables, fold)


def tails(store: Store, url: str) -> list[ConsumerTail]:
    """One thread per consumer, each with its own position and connection.

    With GOVLEDGER_SIEM_SINK set (a sink URL, see exporters.siem_sinks), both logs are also
    exported in GOVLEDGER_SIEM_FORMAT (ecs by default), each app with its own position.
    With any alert channel configured (GOVLEDGER_ALERT_WEBHOOK_URL, _SLACK_URL, _TEAMS_URL,
    _PAGERDUTY_ROUTING_KEY, _SMTP_URL; see docs/exporters.md), the alert rules run and
    their alerts are sent there. With OTLP logs configured by the OTEL_* variables,
    both logs' events are exported as OTLP log records (exporters.otlp_logs). With
    GOVLEDGER_NATS_URL set, both logs are published to NATS JetStream (exporters.nats_export).
    """
    found = [ConsumerTail(store, url, MetricsFold()), ConsumerTail(store, url, AuditChain())]
    sink_url = os.environ.get("GOVLEDGER_SIEM_SINK")
    if sink_url:
        fmt = os.environ.get("GOVLEDGER_SIEM_FORMAT", "ecs")
        sink = open_sink(sink_url)  # one sink (and file) shared by both logs' consumers
        for app in APPS:
            found.append(ConsumerTail(store, url, SiemExport(app, fmt, sink)))
    for consumer in alerts.consumers_from_env(store):  # any GOVLEDGER_ALERT_* channel set
        found.append(ConsumerTail(store, url, consumer))
    if otlp_configured("logs"):  # OTEL_LOGS_EXPORTER=otlp or an OTLP endpoint
        for app in APPS:
            found.append(ConsumerTail(store, url, OtlpLogs(app)))
    if nats_configured(os.environ):  # GOVLEDGER_NATS_URL: the JetStream fan-out
        settings = settings_from_env(os.environ)
        for app in APPS:
            found.append(ConsumerTail(store, url, NatsExport(app, settings)))
    return found
