"""`govledger rebuild`: fold again from event 1 what is derived, leave the rest where it is.

Every tracked reader (a row of gl_tracking) declares what a rebuild does to it (`on_rebuild`):
- `refold`: a fold of the log alone (the views, the /metrics counters). Its tables are
  emptied and its position set to 0 in one transaction, then it folds from event 1;
- `keep`: evidence or delivery (the audit chain; SIEM, OTLP, alerts). Its row and tables
  are not touched, so nothing is chained again or sent again.
The latest retention cutoffs recorded in the log (`RetentionPruned`) are applied again
after the fold, so a pruned request row or header does not come back.
A row that no refold names is kept. The clearing transaction first locks the refolded
rows, which every batch of their readers locks too: a running gateway's batch either
commits before the clearing (and is cleared with the rest) or re-reads the reset position
after it; both fold each event exactly once, whoever folds it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from govledger.ledger import events as ev
from govledger.ledger.heap import bulk_passes
from govledger.ledger.store import Store
from govledger.projections.audit_view import AuditView
from govledger.projections.database import ViewDatabase
from govledger.projections.runner import View, catch_up
from govledger.projections.usage_view import UsageView, drop_past

Progress = Callable[[int], None]
Fold = Callable[[Store, ViewDatabase, Progress | None], int]
BATCH = 5000


@dataclass(frozen=True)
class Refold:
    """A reader a rebuild folds again: its tracking row, the tables it owns, how it folds."""

    name: str
    app: str
    tables: tuple[str, ...]
    fold: Fold


@dataclass(frozen=True)
class Rebuilt:
    """What a rebuild did: events folded per refolded reader, and the rows it kept."""

    folded: dict[str, int]
    kept: list[tuple[str, str]]


def all_views() -> dict[str, list[View]]:
    """The views of each application."""
    return {"governance": [AuditView()], "usage": [UsageView()]}


def view_refolds() -> list[Refold]:
    """The materialized views as refolds (each is `on_rebuild = "refold"`)."""
    found = []
    for app, views in all_views().items():
        for view in views:
            if view.on_rebuild == "refold":
                found.append(Refold(view.name, app, view.tables, _view_fold(app, view)))
    return found


def _view_fold(app: str, view: View) -> Fold:
    def fold(store: Store, db: ViewDatabase, progress: Progress | None) -> int:
        return catch_up(
            store, db, app, [view], progress=progress, batch_size=BATCH, read_ahead=True
        )

    return fold


def readers(refolds: Sequence[Refold] = ()) -> list[Refold]:
    """Everything a rebuild folds again: the views, then the given consumers."""
    return [*view_refolds(), *refolds]


def clear(db: ViewDatabase, refolds: Sequence[Refold]) -> None:
    """Empty the refolds' tables and set their positions to 0, in one transaction.

    Their rows are locked first (in a fixed order), so no batch of theirs is half applied
    across the clearing; every other row and table is left as it is.
    """
    rows = sorted({(r.name, r.app) for r in refolds})
    suffix = " FOR UPDATE" if db.is_postgres else ""  # SQLite: BEGIN IMMEDIATE locks
    with db.transaction() as cur:
        for name, app in rows:
            cur.execute(
                "INSERT INTO gl_tracking (view, app, position) VALUES (?, ?, 0) "
                "ON CONFLICT (view, app) DO NOTHING",
                (name, app),
            )
        for name, app in rows:
            cur.execute(
                "SELECT position FROM gl_tracking WHERE view = ? AND app = ?" + suffix,
                (name, app),
            )
            cur.fetchone()
        for refold in refolds:
            for table in refold.tables:
                cur.execute(f"DELETE FROM {table}")  # noqa: S608 - names declared in code
        for name, app in rows:
            cur.execute(
                "UPDATE gl_tracking SET position = 0 WHERE view = ? AND app = ?", (name, app)
            )


def rebuild(
    store: Store,
    db_url: str,
    refolds: Sequence[Refold] = (),
    progress: Progress | None = None,
) -> Rebuilt:
    """Clear the views and the given refolds, fold them from event 1, keep every other row."""
    db = ViewDatabase(db_url)
    try:
        db.create()
        chosen = readers(refolds)
        clear(db, chosen)
        with bulk_passes():  # the batches' events live until their commit: no garbage
            folded = {r.name: r.fold(store, db, progress) for r in chosen}
        with db.transaction() as cur:  # the request log refolded: its pruned rows go again
            drop_past(cur, retention_cutoffs(store))
        names = {(r.name, r.app) for r in chosen}
        rows = db.query("SELECT view, app FROM gl_tracking ORDER BY app, view")
        kept = [(str(v), str(a)) for v, a in rows if (str(v), str(a)) not in names]
    finally:
        db.close()
    return Rebuilt(folded, kept)


def retention_cutoffs(store: Store) -> dict[str, datetime]:
    """The latest cutoff per data class of the pruning runs recorded in the log."""
    latest: dict[str, datetime] = {}
    for _, event in store.iterate("governance"):
        if isinstance(event, ev.RetentionPruned):
            for name, at in event.cutoffs.items():
                cutoff = datetime.fromisoformat(at)
                latest[name] = max(latest.get(name, cutoff), cutoff)
    return latest


def rebuild_views(store: Store, db_url: str, progress: Progress | None = None) -> dict[str, int]:
    """Rebuild the views alone (no consumer); returns the events folded per view."""
    return rebuild(store, db_url, (), progress).folded
