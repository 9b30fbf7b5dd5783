"""What a detector reports: a check, a category and character offsets, never the text."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """One match: which check found what kind of thing between two character offsets."""

    check: str  # e.g. pii.card
    category: str  # e.g. payment_card
    start: int
    end: int
