"""The stores' transcoder: the library's JSON bytes, written by orjson where they are the same.

The library's `JSONTranscoder` encodes with the stdlib `json` module and a `default` hook
(`{"_type_": "decimal_str", "_data_": "1.5"}` and the like), about 20 µs per usage event.
orjson writes the same bytes (compact separators, UTF-8, insertion order, the same string
escapes, the same shortest float digits) for states made only of exact `dict`, `list`,
`str`, `int`, `bool`, `None`, finite floats written positionally, and the types whose
registered transcoding writes a string (Decimal, datetime), which it hands to the same hook.
Everything else (a UUID, which orjson would write as a plain string; enums, dataclasses,
subclasses, tuples, floats in exponent form or not finite, ints past 64 bits, keys that are
not `str`, nesting past `MAX_DEPTH`) goes to the library's encoder, so its bytes and errors
are the library's own. Decoding is the library's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Transcoding,
)

MAX_DEPTH = 64  # deeper states go to the library (orjson refuses past 254 levels)
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_STRING_TRANSCODINGS = (DecimalAsStr, DatetimeAsISO)  # the library's, each writes a str
_NATIVE: frozenset[type] = frozenset((str, int, bool, type(None)))


class LedgerTranscoder(JSONTranscoder):
    """The library's JSON transcoder with orjson writing the states it writes identically."""

    def __init__(self) -> None:
        super().__init__()
        self._scalars: frozenset[type] = _NATIVE

    def register(self, transcoding: Transcoding) -> None:
        """Register as the library does; the library's string transcodings go through orjson."""
        super().register(transcoding)
        tagged = {t for t, known in self.types.items() if type(known) in _STRING_TRANSCODINGS}
        self._scalars = _NATIVE | tagged

    def encode(self, obj: Any) -> bytes:
        """The bytes `JSONTranscoder.encode` gives, by orjson when the state is plain."""
        if type(obj) is dict and self.plain(obj.values(), 0):
            try:
                return orjson.dumps(obj, default=self._encode_obj, option=_OPTIONS)
            except orjson.JSONEncodeError:
                pass  # ints past 64 bits, keys that are not str, lone surrogates
        return super().encode(obj)

    def plain(self, values: Iterable[Any], depth: int) -> bool:
        """Whether every value (and all they hold) is of a type orjson writes as the library."""
        scalars = self._scalars
        for value in values:
            kind = type(value)
            if kind in scalars:
                continue
            if kind is dict:
                if depth >= MAX_DEPTH or not self.plain(value.values(), depth + 1):
                    return False
            elif kind is list:
                if depth >= MAX_DEPTH or not self.plain(value, depth + 1):
                    return False
            elif kind is float:
                if not (value == 0.0 or 1e-4 <= abs(value) < 1e16):
                    return False  # repr writes an exponent (1e-05) where orjson does not; nan
            else:
                return False
        return True
