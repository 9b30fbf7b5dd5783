"""The tracked consumers the projection process runs, and the tables they need."""

from __future__ import annotations

from exporters import audit_chain, metrics_fold
from exporters.audit_chain import AuditChain
from exporters.consumer import ConsumerTail
from exporters.metrics_fold import MetricsFold
from ledger.store import Store
from projections.database import ViewDatabase

TOPIC = "exporters.registry:tails"  # what proxy.runtime hands the projection process


def create_tables(db: ViewDatabase) -> None:
    """Create every consumer's tables (the server does this before the process starts)."""
    metrics_fold.create_tables(db)
    audit_chain.create_tables(db)


def tails(store: Store, url: str) -> list[ConsumerTail]:
    """One thread per consumer, each with its own position and connection."""
    return [ConsumerTail(store, url, MetricsFold()), ConsumerTail(store, url, AuditChain())]
