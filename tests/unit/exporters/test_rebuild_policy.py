"""What `govledger rebuild` does to each tracked reader: folds are refolded, the rest kept."""

from __future__ import annotations

import re

from govledger.exporters import alert_rules, alerts, audit_chain, metrics_fold, registry
from govledger.exporters.alerts import BudgetAlerts, GovernanceAlerts, Webhook
from govledger.exporters.audit_chain import AuditChain
from govledger.exporters.consumer import Consumer
from govledger.exporters.metrics_fold import MetricsFold
from govledger.exporters.otlp_logs import OtlpLogs
from govledger.exporters.siem_export import SiemExport
from govledger.exporters.siem_sinks import FileSink
from govledger.ledger.store import Store
from govledger.projections.database import SCHEMA as VIEW_SCHEMA
from govledger.projections.rebuild import readers


def created(schema: list[str]) -> set[str]:
    """The table names a schema creates."""
    return {m for s in schema for m in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", s)}


def test_only_folds_of_the_log_are_refolded_and_evidence_and_deliveries_are_kept() -> None:
    store = Store.__new__(Store)  # never opened: the consumers only keep a reference
    hook = Webhook("http://127.0.0.1:9/x", "whsec_AA==")
    kept: list[Consumer] = [
        AuditChain(),
        SiemExport("usage", "ecs", FileSink.__new__(FileSink)),
        OtlpLogs("governance"),
        BudgetAlerts(store, hook),
        GovernanceAlerts(store, hook),
    ]

    assert MetricsFold().on_rebuild == "refold"
    assert [c.on_rebuild for c in kept] == ["keep"] * len(kept)
    assert [(r.name, r.app) for r in readers(registry.refolds())] == [
        ("audit", "governance"),
        ("usage", "usage"),
        ("metrics", "usage"),
    ]


def test_every_table_a_reader_declares_is_one_its_schema_creates() -> None:
    views = {t for r in readers() for t in r.tables}
    chain = set(AuditChain.tables)
    alerting = set(BudgetAlerts.tables) | set(GovernanceAlerts.tables)

    assert views <= created(VIEW_SCHEMA)
    assert set(MetricsFold.tables) == created(metrics_fold.SCHEMA)
    assert chain == created(audit_chain.SCHEMA)
    assert alerting == created(alerts.SCHEMA) | created(alert_rules.SCHEMA)
