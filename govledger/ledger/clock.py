"""The process's one clock, as a port: the wall time of events and a monotonic timer."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """Wall time (UTC, for events and periods) and a monotonic reading (for durations)."""

    def now(self) -> datetime:
        """The current UTC time."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (only differences mean anything)."""
        ...
