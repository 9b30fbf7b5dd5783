"""Report rows as a printable HTML page: one table, every value escaped, no script."""

from __future__ import annotations

import html
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson
from starlette.responses import Response

from govledger.ledger.money import json_default, plain

STYLE = (
    "body{font:12px sans-serif;margin:1.5em}table{border-collapse:collapse;width:100%}"
    "th,td{border:1px solid #999;padding:2px 4px;text-align:left;vertical-align:top}"
    "th{background:#eee}@media print{th{background:none}}"
)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return orjson.dumps(value, default=json_default).decode()
    if isinstance(value, Decimal):
        return plain(value)
    return str(value)


def page(
    title: str, notes: Sequence[str], rows: Sequence[dict[str, Any]], columns: Sequence[str]
) -> Response:
    """A self-contained HTML page of a report (title, notes, one table of rows)."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_text(row.get(c)))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    lines = "".join(f"<p>{html.escape(n)}</p>" for n in notes)
    text = (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}'
        f"</title><style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{lines}"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></body></html>"
    )
    return Response(
        text,
        media_type="text/html; charset=utf-8",
        headers={"content-security-policy": "default-src 'none'; style-src 'unsafe-inline'"},
    )
