"""A pruning run on the views: drop the closed request rows and empty the recorded headers
older than their cutoffs, in one transaction, then record the run as an event."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from govledger.compliance.retention import RetentionPolicy, cutoffs, pruning_event
from govledger.ledger import events as ev
from govledger.ledger.store import Store
from govledger.projections.database import ViewDatabase


def prune(
    store: Store,
    db: ViewDatabase,
    policy: RetentionPolicy,
    actor: str,
    source: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ev.RetentionPruned:
    """Apply the policy at the clock's now; returns the recorded event."""
    now = clock()
    cut = cutoffs(policy, now)
    pruned: dict[str, int] = {}
    with db.transaction() as cur:
        if "requests" in cut:
            done = cur.execute(
                "DELETE FROM gl_requests WHERE admitted_at < ? AND status <> 'admitted'",
                (cut["requests"].isoformat(),),
            )
            pruned["requests"] = int(done.rowcount)
        if "headers" in cut:
            done = cur.execute(
                "UPDATE gl_requests SET headers = NULL "
                "WHERE admitted_at < ? AND headers IS NOT NULL AND headers <> '{}'",
                (cut["headers"].isoformat(),),
            )
            pruned["headers"] = int(done.rowcount)
    event = pruning_event(policy, cut, pruned, actor, source, now)
    store.governance.save(event)
    return event
