"""A pruning run on the views: drop the closed request rows, empty the recorded headers and
drop the delivery records older than their cutoffs, in one transaction, then record the run
as an event."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from govledger.compliance.retention import RetentionPolicy, cutoffs, pruning_event
from govledger.exporters import alerts
from govledger.ledger import events as ev
from govledger.ledger.store import Store
from govledger.projections.database import ViewDatabase
from govledger.projections.usage_view import drop_past


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
    if "deliveries" in cut:
        alerts.create_tables(db)  # a store whose alerts consumer never ran
    with db.transaction() as cur:
        pruned = drop_past(cur, cut)
        if "deliveries" in cut:
            pruned["deliveries"] = alerts.drop_delivered_before(cur, cut["deliveries"])
    event = pruning_event(policy, cut, pruned, actor, source, now)
    store.governance.save(event)
    return event
