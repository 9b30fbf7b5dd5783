"""The real clock, wired once for the whole process (tests inject their own)."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class SystemClock:
    """`datetime.now(UTC)` and `time.perf_counter()`."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """The performance counter, in seconds."""
        return time.perf_counter()
