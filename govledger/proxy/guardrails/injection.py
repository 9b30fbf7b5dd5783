"""A HEURISTIC for prompt injection: weighted phrases, not a classifier.

It catches the stock phrasings ("ignore all previous instructions", "you are now DAN",
"reveal your system prompt") and misses anything paraphrased, translated or encoded.
A text is reported when the weights of the phrases found reach the threshold (default 2:
one strong phrase, or two weak ones). Use it as a tripwire to flag, not as a defence.
"""

from __future__ import annotations

from collections.abc import Iterator

from govledger.proxy.guardrails.findings import Finding
from govledger.proxy.guardrails.linear import compile_linear, spans

STRONG = compile_linear(
    r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+|the\s+|your\s+)?"
    r"(?:previous|prior|above|earlier|preceding|system)\s+(?:instructions|prompts?|rules|messages)"
    r"|\b(?:reveal|print|show|repeat|leak)\s+(?:me\s+)?(?:your|the)\s+(?:system\s+prompt|hidden\s+instructions|initial\s+instructions)"
    r"|\byou\s+are\s+(?:now\s+)?(?:DAN|in\s+developer\s+mode|jailbroken|unrestricted)\b"
    r"|\bdo\s+anything\s+now\b",
    ignore_case=True,
)
WEAK = compile_linear(
    r"\b(?:jailbreak|developer\s+mode|system\s+prompt|no\s+restrictions|without\s+any\s+filters?"
    r"|pretend\s+(?:to\s+be|you\s+are)|from\s+now\s+on\s+you|new\s+instructions)\b",
    ignore_case=True,
)
THRESHOLD = 2


def prompt_injection(text: str, threshold: int = THRESHOLD) -> Iterator[Finding]:
    """Each phrase found, if their weights (strong 2, weak 1) reach the threshold."""
    found = [(start, end, 2) for start, end in spans(STRONG, text)]
    found += [
        (start, end, 1)
        for start, end in spans(WEAK, text)
        if not any(s <= start < e for s, e, _ in found)
    ]
    if sum(weight for _, _, weight in found) < threshold:
        return
    for start, end, _ in sorted(found):
        yield Finding("injection.heuristic", "prompt_injection", start, end)
