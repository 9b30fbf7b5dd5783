"""Rebuild every materialized view from event 1."""

from __future__ import annotations

from collections.abc import Callable

from ledger.store import Store
from projections.audit_view import AuditView
from projections.database import VIEW_TABLES, ViewDatabase
from projections.runner import View, catch_up
from projections.usage_view import UsageView


def all_views() -> dict[str, list[View]]:
    """The views of each application."""
    return {"governance": [AuditView()], "usage": [UsageView()]}


def rebuild_views(
    store: Store, db_url: str, progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Clear the views and their positions, then fold the whole log; returns events per app."""
    db = ViewDatabase(db_url)
    db.create()
    with db.transaction() as cur:
        for table in VIEW_TABLES:
            cur.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
        cur.execute("DELETE FROM gl_tracking")
    counts = {}
    for app, views in all_views().items():
        counts[app] = catch_up(store, db, app, views, progress=progress, batch_size=5000)
    db.close()
    return counts
