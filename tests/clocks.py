"""Clocks tests inject into a gateway instead of sleeping or racing the calendar."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class ShiftedClock:
    """The system's time plus an offset a test moves forward (`advance`), never back."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def advance(self, seconds: float) -> None:
        """Move the wall clock forward (what a wait of `seconds` would show)."""
        self.offset += timedelta(seconds=seconds)

    def now(self) -> datetime:
        """The current UTC time, shifted."""
        return datetime.now(UTC) + self.offset

    def monotonic(self) -> float:
        """The performance counter, shifted alike."""
        return time.perf_counter() + self.offset.total_seconds()


class PinnedClock:
    """A wall clock that stays at one instant (a test never crosses a period boundary);
    the monotonic reading runs (latencies stay real)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        """Always the pinned instant."""
        return self.at

    def monotonic(self) -> float:
        """The performance counter."""
        return time.perf_counter()
