"""Which open requests no process will settle, and why: a pure decision over the in-flight set.

A request is an orphan if an earlier incarnation of this instance admitted it (that process
stopped before settling), or if it has been open longer than `abandon_after_s` whoever
admitted it (its process is gone).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from govledger.ledger import events as ev
from govledger.projections.usage_state import Inflight
from govledger.proxy.enforcement.settlement import Origin, abandon

STOPPED = "process stopped before settling"
STALE = "never settled"


def orphan_reason(
    held: Inflight, origin: Origin, abandon_after_s: float, now: datetime
) -> str | None:
    """Why a request is to be abandoned now, or None if its process may still settle it."""
    if held.instance == origin.instance and held.incarnation != origin.incarnation:
        return STOPPED
    if now.timestamp() - held.admitted_at > abandon_after_s:
        return STALE
    return None


def orphans(
    inflight: Mapping[str, Inflight], origin: Origin, abandon_after_s: float, now: datetime
) -> list[ev.RequestAbandoned]:
    """The `RequestAbandoned` event of every orphan among the open requests, in their order."""
    events = []
    for request_id, held in inflight.items():
        reason = orphan_reason(held, origin, abandon_after_s, now)
        if reason is not None:
            events.append(abandon(request_id, held, reason, origin, now))
    return events
