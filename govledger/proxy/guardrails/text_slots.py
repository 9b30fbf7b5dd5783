"""Where the text of a request or an answer lives in each surface's JSON, to read and mask.

A slot is a (container, key) pair holding a string; the slots of a body are scanned as one
text (joined by newlines) and masked in place, so offsets in events refer to that text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from govledger.proxy.guardrails.policy import mask

Slot = tuple[Any, Any]  # a dict and a key, or a list and an index, holding a string

INPUT_ROOTS = {
    "openai_chat": ("messages",),
    "openai_responses": ("instructions", "input"),
    "openai_embeddings": ("input",),
    "anthropic_messages": ("system", "messages"),
    "gemini": ("systemInstruction", "system_instruction", "contents"),
}
OUTPUT_ROOTS = {
    "openai_chat": ("choices",),
    "openai_responses": ("output",),
    "anthropic_messages": ("content",),
    "gemini": ("candidates",),
}
_FOLLOWED = ("message", "content", "text", "parts")
_SEPARATOR = "\n"


def _collect(container: Any, key: Any, out: list[Slot]) -> None:
    value = container[key]
    if isinstance(value, str):
        out.append((container, key))
    elif isinstance(value, list):
        for index in range(len(value)):
            _collect(value, index, out)
    elif isinstance(value, dict):
        for name in _FOLLOWED:
            if name in value:
                _collect(value, name, out)


def slots(body: dict[str, Any], roots: Sequence[str]) -> list[Slot]:
    """The text slots of a body under its roots, in document order."""
    out: list[Slot] = []
    for root in roots:
        if root in body:
            _collect(body, root, out)
    return out


def joined(found: Sequence[Slot]) -> str:
    """The slots' text as one string, newline between slots."""
    return _SEPARATOR.join(container[key] for container, key in found)


def write_back(found: Sequence[Slot], spans: Sequence[tuple[int, int]]) -> None:
    """Mask the spans (offsets in the joined text) in the slots themselves."""
    if not spans:
        return
    text = mask(joined(found), spans)
    offset = 0
    for container, key in found:
        length = len(container[key])
        container[key] = text[offset : offset + length]
        offset += length + len(_SEPARATOR)
