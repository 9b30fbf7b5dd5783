"""Retention: per data class a period after which the views drop the rows (the events are
kept in the log); the cutoffs are a pure decision of the periods and an injected clock, and
each pruning run is recorded as a `RetentionPruned` event.

Data classes: `requests` (gl_requests rows, closed ones: an open request is never dropped),
`headers` (the recorded header values of gl_requests rows, emptied to NULL) and
`deliveries` (the exporters' delivery records in the views: gl_alert_fired rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import uuid4

from govledger.ledger import events as ev
from govledger.ledger.periods import Duration, DurationError, parse_duration

CLASSES = ("requests", "headers", "deliveries")


def retention_period(text: str) -> Duration:
    """A retention period of fixed length (s, m, h, d, w); DurationError otherwise."""
    period = parse_duration(text)
    if period.is_calendar_unit:
        raise DurationError(f"retention {text!r}: use a fixed unit, e.g. 90d or 52w")
    return period


@dataclass(frozen=True)
class RetentionPolicy:
    """The retention period of each data class (None keeps its rows for ever)."""

    requests: Duration | None = None
    headers: Duration | None = None
    deliveries: Duration | None = None

    @classmethod
    def parse(
        cls, requests: str | None, headers: str | None, deliveries: str | None = None
    ) -> RetentionPolicy:
        """A policy from period texts such as `90d` (empty or None: kept for ever)."""
        return cls(
            retention_period(requests) if requests else None,
            retention_period(headers) if headers else None,
            retention_period(deliveries) if deliveries else None,
        )

    def periods(self) -> dict[str, str]:
        """Data class -> period text, for the classes that have one."""
        return {c: str(p) for c in CLASSES if (p := getattr(self, c)) is not None}


def cutoffs(policy: RetentionPolicy, now: datetime) -> dict[str, datetime]:
    """Per data class with a period, the instant before which its rows go."""
    found = {}
    for name in CLASSES:
        period: Duration | None = getattr(policy, name)
        if period is not None:
            found[name] = now - timedelta(seconds=period.approx_seconds)
    return found


def pruning_event(
    policy: RetentionPolicy,
    cut: dict[str, datetime],
    pruned: dict[str, int],
    actor: str,
    source: str,
    now: datetime,
) -> ev.RetentionPruned:
    """The event recording one pruning run (a stream of its own)."""
    return ev.RetentionPruned(
        originator_id=uuid4(),
        originator_version=1,
        timestamp=now,
        actor=actor,
        source=source,
        periods=policy.periods(),
        cutoffs={name: at.isoformat() for name, at in cut.items()},
        pruned=pruned,
    )
