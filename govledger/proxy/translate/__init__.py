"""Wire-format translation between vendors, through OpenAI chat completions as the hub.

Each vendor module holds pure functions (dicts in, dicts out) for one vendor and the hub,
both ways; `pipeline` composes them for any surface and provider type. A feature that
cannot be expressed on the other side raises `UntranslatableError` naming it: nothing is
ever dropped in silence.
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]


class UntranslatableError(ValueError):
    """A request feature the target wire format cannot express."""

    def __init__(self, feature: str, target: str) -> None:
        super().__init__(f"{feature} cannot be translated for provider type {target}")
        self.feature = feature
        self.target = target


def text_of(content: Any, where: str, target: str) -> str:
    """The text of a string or of a list of text parts; other parts are untranslatable."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise UntranslatableError(f"{where} (not text)", target)
    texts = []
    for index, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") != "text":
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise UntranslatableError(f"{where}[{index}] ({kind} part)", target)
        texts.append(str(part.get("text", "")))
    return "".join(texts)


def refuse_unknown(body: Json, known: frozenset[str], where: str, target: str) -> None:
    """Raise for the first field with a value that is not in `known` (nulls pass)."""
    for name in sorted(body):
        if name not in known and body[name] is not None:
            prefix = f"{where}." if where else ""
            raise UntranslatableError(f"`{prefix}{name}`", target)
