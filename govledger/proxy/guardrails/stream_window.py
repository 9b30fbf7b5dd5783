"""The sliding window over a streamed answer: text is held back until the window after it
is full, scanned, masked or stopped, then released.

Pieces (the text of each streamed event) are held while the text after them is shorter
than the window. Each new piece rescans the held text; a finding is acted on once text
follows it (a match at the very end may still grow) or the stream ends. A finding longer
than the window can be released in part before it is complete: the window bounds both
the delay and what a detector can see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from govledger.proxy.guardrails.policy import Triggered, Verdict, mask

Evaluate = Callable[[str], Verdict]


@dataclass
class WindowScan:
    """The held pieces of one stream and what was decided about them."""

    evaluate: Evaluate
    window: int
    held: list[str] = field(default_factory=list)
    released_chars: int = 0  # characters of text released before `held`
    seen: set[tuple[str, str, int]] = field(default_factory=set)
    blocked: Triggered | None = None

    def push(self, piece: str) -> list[Triggered]:
        """Hold one more piece and scan; returns the new decisions (offsets in the stream)."""
        self.held.append(piece)
        return self._scan(final=False)

    def release(self, final: bool) -> list[str]:
        """The pieces that may go out now (all of them when the stream ends), masked."""
        if self.blocked is not None:
            return []
        if final:
            out, self.held = self.held, []
        else:
            out = []
            after = sum(len(p) for p in self.held)
            while self.held and after - len(self.held[0]) >= self.window:
                after -= len(self.held[0])
                out.append(self.held.pop(0))
        self.released_chars += sum(len(p) for p in out)
        return out

    def finish(self) -> list[Triggered]:
        """Scan the held text as complete (the stream is ending)."""
        return self._scan(final=True)

    def _scan(self, final: bool) -> list[Triggered]:
        text = "".join(self.held)
        verdict = self.evaluate(text)
        limit = len(text) if final else len(text) - 1
        leaving = len(text) - self.window
        new: list[Triggered] = []
        spans = []
        for t in verdict.triggered:
            settled = t.end <= limit or t.start < leaving  # complete, or about to leave
            key = (t.policy, t.check, self.released_chars + t.start)
            if not settled or key in self.seen:
                continue
            self.seen.add(key)
            shifted = Triggered(
                t.policy,
                t.check,
                t.category,
                t.action,
                self.released_chars + t.start,
                self.released_chars + t.end,
                t.detail,
            )
            new.append(shifted)
            if t.action == "redact":
                spans.append((t.start, t.end))
            if t.action == "block" and self.blocked is None:
                self.blocked = shifted
        if spans:
            self._mask(text, spans)
        return new

    def _mask(self, text: str, spans: list[tuple[int, int]]) -> None:
        masked = mask(text, spans)
        pieces, offset = [], 0
        for piece in self.held:
            pieces.append(masked[offset : offset + len(piece)])
            offset += len(piece)
        self.held = pieces
