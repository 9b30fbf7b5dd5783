"""Route state changes as events: which of the health fold's transitions to record, once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from govledger.ledger import events as ev
from govledger.projections.route_health import RouteHealthFold, Transition

_NAMESPACE = uuid.UUID("5d3c8f5e-4a9b-4f27-9b39-0f6f3c1f2a15")
RECENT_S = 10.0  # only changes this recent are recorded (older ones were, or predate us)


def change_id(change: Transition) -> uuid.UUID:
    """The stream id of a change: the same on every instance that replays it."""
    provider, key_id, model = change.route
    name = f"{provider}|{key_id}|{model}|{change.state}|{change.at:.3f}"
    return uuid.uuid5(_NAMESPACE, name)


def change_event(change: Transition, instance: str) -> ev.RouteStateChanged:
    """The event of one change, stamped with the event time of the change."""
    provider, key_id, model = change.route
    return ev.RouteStateChanged(
        originator_id=change_id(change),
        originator_version=1,
        timestamp=datetime.fromtimestamp(change.at, UTC),
        route_provider=provider,
        route_key_id=key_id,
        route_model=model,
        previous=change.previous,
        state=change.state,
        why=change.reason,
        recorded_by=instance,
    )


class RouteStateRecorder:
    """Picks the recent, not yet recorded transitions at each recompute tick."""

    def __init__(self, fold: RouteHealthFold, instance: str, started: float) -> None:
        self.fold, self.instance, self.started = fold, instance, started
        self.recorded: dict[uuid.UUID, float] = {}

    def due(self, now: float) -> list[ev.RouteStateChanged]:
        """Events for the changes since the last call (none from before this process)."""
        events = []
        for change in self.fold.transitions(now):
            if change.at < max(self.started, now - RECENT_S):
                continue
            key = change_id(change)
            if key in self.recorded:
                continue
            self.recorded[key] = change.at
            events.append(change_event(change, self.instance))
        horizon = now - self.fold.params.horizon_s
        self.recorded = {k: at for k, at in self.recorded.items() if at >= horizon}
        return events
