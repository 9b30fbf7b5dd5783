"""The event vocabulary as markdown (docs/events.md), rendered from ledger.events itself.

Each event's meaning is its docstring; each field's meaning is the comment on its line.
"""

from __future__ import annotations

import ast
import inspect
import io
import tokenize
from dataclasses import fields

from govledger.ledger import events as ev
from govledger.ledger.entities import EVENT_FOR

REGENERATE = "python -m govledger.ledger.vocabulary > docs/events.md"
_BASE_FIELDS = ("originator_id", "originator_version", "timestamp")


def field_comments() -> dict[tuple[str, str], str]:
    """The trailing comment of each field in events.py, by (class name, field name)."""
    source = inspect.getsource(ev)
    comments = {
        token.start[0]: token.string.lstrip("#").strip()
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    }
    found: dict[tuple[str, str], str] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                comment = comments.get(item.end_lineno or item.lineno)
                if comment:
                    found[(node.name, item.target.id)] = comment
    return found


def _meaning(cls: type, name: str, comments: dict[tuple[str, str], str]) -> str:
    for klass in cls.__mro__:
        if (klass.__name__, name) in comments:
            return comments[(klass.__name__, name)]
    # A field means the same in every event, so one comment serves all that carry it.
    return next((text for (_, field), text in comments.items() if field == name), "")


def _stream(cls: type[ev.LedgerEvent]) -> str:
    kinds: dict[type, str] = {event: kind for (kind, _), event in EVENT_FOR.items()}
    if kinds.get(cls) == "settings":
        return "Application `governance`, one stream for the gateway's settings."
    if cls in kinds:
        return f"Application `governance`, one stream per {kinds[cls].replace('_', ' ')}."
    if cls in ev.ACCESS_EVENTS + ev.RETENTION_EVENTS + ev.ERASURE_EVENTS + ev.SECRET_EVENTS:
        return "Application `governance`, one stream per event."
    if cls in ev.ALERT_EVENTS:
        return "Application `governance`, one stream per alert, a version per delivery attempt."
    if cls in ev.ROUTE_EVENTS:
        return (
            "Application `usage`, one stream per route state change (a name-based id:"
            " instances replaying the same evidence write it once)."
        )
    if cls in ev.ALLOTMENT_EVENTS:
        return (
            "Application `usage`, one stream per strict budget period (a name-based id, the"
            " same on every instance), a version per grant, return or expiry: two instances"
            " appending the same version cannot both succeed."
        )
    return "Application `usage`, one stream per request."


def render() -> str:
    """docs/events.md: every event with its stream, meaning and fields."""
    comments = field_comments()
    lines = [
        "# Ledger events",
        "",
        "Generated from `govledger/ledger/events.py`; do not edit.",
        f"Regenerate with `{REGENERATE}`.",
        "",
        "Every event also carries `originator_id` (its stream), `originator_version` (its",
        "place in the stream, from 1) and `timestamp` (when it happened, UTC). `JSON` is a",
        "dict of plain JSON values; amounts in USD are decimals, never floats.",
    ]
    governance = (
        ev.GOVERNANCE_EVENTS
        + ev.ACCESS_EVENTS
        + ev.ALERT_EVENTS
        + ev.RETENTION_EVENTS
        + ev.ERASURE_EVENTS
        + ev.SECRET_EVENTS
    )
    usage = ev.USAGE_EVENTS + ev.ROUTE_EVENTS + ev.ALLOTMENT_EVENTS
    for title, group in (("Governance", governance), ("Usage", usage)):
        lines += ["", f"## {title}"]
        for cls in group:
            lines += [
                "",
                f"### {cls.__name__}",
                "",
                _stream(cls),
                "",
                inspect.cleandoc(cls.__doc__ or ""),
            ]
            lines += ["", "| field | type | meaning |", "|---|---|---|"]
            for item in fields(cls):
                if item.name in _BASE_FIELDS:
                    continue
                meaning = _meaning(cls, item.name, comments).replace("|", "\\|")
                kind = str(item.type).replace("|", "\\|")
                lines.append(f"| `{item.name}` | `{kind}` | {meaning} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
