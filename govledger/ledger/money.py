"""Money as text: every Decimal the gateway writes (headers, JSON, CSV, tables) is plain."""

from __future__ import annotations

from decimal import Decimal


def plain(amount: Decimal) -> str:
    """`amount` in positional notation without trailing zeros: `0.00000004`, never `4E-8`;
    any zero is `0`. `Decimal(plain(x)) == x` for every finite x."""
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {amount}")
    if amount.is_zero():
        return "0"
    text = format(amount, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def json_default(value: object) -> object:
    """orjson's `default`: Decimals as plain text, anything else as its `str`."""
    if isinstance(value, Decimal):
        return plain(value)
    return str(value)
