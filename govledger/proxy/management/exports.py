"""Query results as JSON (with `next_cursor`), JSON lines or CSV (cursor in `x-next-cursor`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

import orjson
from starlette.responses import Response

from govledger.ledger.money import json_default, plain
from govledger.proxy.management.errors import JSONResponse

Format = Literal["json", "csv", "jsonl"]
EXPORTED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A page of rows: JSON (`data`, `next_cursor`), CSV or JSON lines",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}
PRINTABLE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON, CSV, JSON lines, or a printable HTML page (`format=html`)",
        "content": {
            **EXPORTED[200]["content"],
            "text/html": {"schema": {"type": "string"}},
        },
    }
}
Data = dict[str, Any]


def utc_text(value: datetime | None) -> str | None:
    """An instant as the views store it (ISO 8601 in UTC); naive times are taken as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return orjson.dumps(value, default=json_default).decode()
    if isinstance(value, Decimal):
        return plain(value)
    return str(value)


def render(
    rows: Sequence[Data], columns: Sequence[str], cursor: str | None, fmt: Format
) -> Response:
    """One page of rows in the asked format."""
    headers = {"x-next-cursor": cursor} if cursor is not None else {}
    if fmt == "json":
        return JSONResponse({"data": list(rows), "next_cursor": cursor}, headers=headers)
    if fmt == "jsonl":
        lines = b"".join(orjson.dumps(row, default=json_default) + b"\n" for row in rows)
        return Response(lines, media_type="application/x-ndjson", headers=headers)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return Response(text.getvalue(), media_type="text/csv", headers=headers)
