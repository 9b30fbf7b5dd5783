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
are the library's own.

Decoding reads with `orjson.loads` and revives each `{"_type_": name, "_data_": text}` by
its registered transcoding: where a state of the same keys held tags before (a plan per
shape), else by walking it all. The number of tags revived must equal the number of
`"_type_"` in the bytes (so none was missed, nor dropped by orjson as a duplicate key's
first value, which the library's hook still saw). Where orjson's reading can differ from
the stdlib's (an escape: lone surrogates; 19 digits in a row: an integer past 64 bits,
which orjson reads as a float; NaN, Infinity, nesting past 1024, which orjson refuses) and
for a tag of another shape (other keys, a name not registered, data not a string), the
library's decoder reads the state, so its result and its errors are the library's own.
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
_BIG = 2.0**63  # orjson reads an integer past 64 bits as a float at least this large
_DIGITS = bytes.maketrans(b"012345678", b"999999999")  # every digit a 9
_LONG_NUMBER = b"9" * 19  # 2**63 has 19 digits: below that, orjson reads every integer
MAX_PLANS = 256  # shapes of state remembered (each event class has a few)
Path = tuple[str | None, ...]  # keys from the state's top to a tag; None: every item of a list


class UnusualStateError(ValueError):
    """A stored state the orjson reading leaves to the library's decoder."""


class LedgerTranscoder(JSONTranscoder):
    """The library's JSON transcoder with orjson writing the states it writes identically."""

    def __init__(self) -> None:
        super().__init__()
        self._scalars: frozenset[type] = _NATIVE
        self._plans: dict[tuple[str, ...], tuple[Path, ...]] = {}
        self.walks = 0  # states read by walking all of them (a shape's first, or a plan missed)

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

    def decode(self, data: bytes) -> Any:
        """What `JSONTranscoder.decode` gives: by orjson and a walk when the state is usual,
        else by the library (its result, or its own error)."""
        if type(data) is bytes:
            try:
                return self.revive(data)
            except Exception:  # noqa: S110 - what the walk does not take, the library decides
                pass
        return super().decode(data)  # outside the handler: the library's error, no context

    def revive(self, data: bytes) -> Any:
        """orjson's reading of `data` with the library's tags revived; raises
        (`UnusualStateError`, orjson's error) wherever the library's reading may differ."""
        if b"\\" in data:
            raise UnusualStateError("an escape: a lone surrogate, or a key spelt otherwise")
        if _LONG_NUMBER in data.translate(_DIGITS):
            raise UnusualStateError("19 digits or more: orjson reads past 64 bits as a float")
        expected = data.count(b'"_type_"')
        state = orjson.loads(data)
        tags: list[None] = []
        if type(state) is dict:
            plan = self._plans.get(tuple(state))
            if plan is not None:
                for path in plan:
                    self._revive_path(state, path, 0, tags)
                if len(tags) == expected:
                    return state
                state, tags = orjson.loads(data), []  # the plan missed a tag: walk it all
            self.walks += 1
            self._learn(state)
            state = self._revive_dict(state, tags)
        elif type(state) is list:
            self._revive_list(state, tags)
        if len(tags) != expected:
            # a tag orjson dropped (a duplicate key's first value, which the library's hook
            # still saw), or the word in a string: the library reads it
            raise UnusualStateError("a tag the walk did not see")
        return state

    def _learn(self, state: dict[str, Any]) -> None:
        """Remember where this shape of state (its keys, in order) holds tags."""
        if len(self._plans) >= MAX_PLANS:
            return
        key = tuple(state)
        paths: set[Path] = set(self._plans.get(key, ()))
        _find_tags(state, (), paths)
        self._plans[key] = tuple(sorted(paths, key=repr))

    def _revive_path(self, obj: Any, path: Path, at: int, tags: list[None]) -> None:
        """Revive the tags at `path` below `obj`; what is not there is left as it is."""
        step, last = path[at], at + 1 == len(path)
        if step is None:
            if type(obj) is list:
                for i, item in enumerate(obj):
                    if not last:
                        self._revive_path(item, path, at + 1, tags)
                    elif type(item) is dict and "_type_" in item:
                        obj[i] = self._tagged(item, tags)
        elif type(obj) is dict and step in obj:
            value = obj[step]
            if not last:
                self._revive_path(value, path, at + 1, tags)
            elif type(value) is dict and "_type_" in value:
                obj[step] = self._tagged(value, tags)

    def _revive_dict(self, obj: dict[str, Any], tags: list[None]) -> Any:
        for key, value in obj.items():
            kind = type(value)
            if kind is dict:
                obj[key] = self._revive_dict(value, tags)  # a value replaced: the size stays
            elif kind is list:
                self._revive_list(value, tags)
            elif kind is float and not -_BIG < value < _BIG:
                raise UnusualStateError("a number orjson may have read otherwise")
        if "_type_" in obj:
            return self._tagged(obj, tags)
        return obj

    def _revive_list(self, items: list[Any], tags: list[None]) -> None:
        for i, value in enumerate(items):
            kind = type(value)
            if kind is dict:
                items[i] = self._revive_dict(value, tags)
            elif kind is list:
                self._revive_list(value, tags)
            elif kind is float and not -_BIG < value < _BIG:
                raise UnusualStateError("a number orjson may have read otherwise")

    def _tagged(self, obj: dict[str, Any], tags: list[None]) -> Any:
        """The library's hook on a dict holding `_type_`, for its usual shape only."""
        if len(obj) == 2 and "_data_" in obj:
            name, data = obj["_type_"], obj["_data_"]
            if type(name) is str and type(data) is str:
                transcoding = self.names.get(name)
                if transcoding is not None:
                    tags.append(None)
                    return transcoding.decode(data)
        raise UnusualStateError("a tag of another shape")


def _find_tags(value: Any, path: Path, found: set[Path]) -> None:
    """Add the paths of the tags below `value` (orjson's reading, not yet revived)."""
    if type(value) is dict:
        if "_type_" in value:
            found.add(path)
            return
        for key, item in value.items():
            _find_tags(item, (*path, key), found)
    elif type(value) is list:
        for item in value:
            _find_tags(item, (*path, None), found)
