"""Plain decimal text: no exponent ever, and the same value back."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from govledger.ledger.money import json_default, plain

finite = st.decimals(allow_nan=False, allow_infinity=False)


@given(finite)
def test_plain_text_has_no_exponent_and_round_trips(amount: Decimal) -> None:
    text = plain(amount)
    assert "e" not in text.lower()
    assert Decimal(text) == amount
    assert text == "0" or not (("." in text) and text.endswith("0"))


@given(st.integers(min_value=-30, max_value=30), st.integers(min_value=0, max_value=10**12))
def test_any_exponent_is_written_out(exponent: int, digits: int) -> None:
    amount = Decimal(digits).scaleb(exponent)
    assert Decimal(plain(amount)) == amount
    assert "E" not in plain(amount)


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("4E-8", "0.00000004"),
        ("0E-7", "0"),
        ("-0", "0"),
        ("0.0000000", "0"),
        ("1E+2", "100"),
        ("5.00", "5"),
        ("0.000012340", "0.00001234"),
        ("-3.5E-10", "-0.00000000035"),
    ],
)
def test_known_amounts(amount: str, text: str) -> None:
    assert plain(Decimal(amount)) == text


def test_json_default_writes_decimals_plain() -> None:
    body = orjson.dumps({"cost": Decimal("4E-8"), "zero": Decimal("0E-7")}, default=json_default)
    assert body == b'{"cost":"0.00000004","zero":"0"}'


def test_infinity_is_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        plain(Decimal("Infinity"))
