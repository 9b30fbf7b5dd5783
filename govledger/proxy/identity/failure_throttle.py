"""How many refused sign-ins of one kind are recorded: a flood of bad tokens must not flood
the ledger. At most `per_window` events per (method, reason) per window; the next recorded
one says how many were left out since (`LoginFailed.suppressed`). Pure over a monotonic clock."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FailureThrottle:
    """Counts per kind in the current window; `admit` says whether to record, and the skips."""

    per_window: int = 20
    window_s: float = 60.0
    _windows: dict[tuple[str, str], tuple[float, int]] = field(default_factory=dict)
    _skipped: dict[tuple[str, str], int] = field(default_factory=dict)

    def admit(self, kind: tuple[str, str], now: float) -> tuple[bool, int]:
        """(record it?, how many of this kind were skipped before it)."""
        start, count = self._windows.get(kind, (now, 0))
        if now - start >= self.window_s:
            start, count = now, 0
        if count >= self.per_window:
            self._windows[kind] = (start, count)
            self._skipped[kind] = self._skipped.get(kind, 0) + 1
            return False, 0
        self._windows[kind] = (start, count + 1)
        return True, self._skipped.pop(kind, 0)
