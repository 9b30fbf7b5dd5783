"""The stores' transcoder reads back exactly what the library reads, by orjson or not."""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

import pytest
from eventsourcing.persistence import Mapper
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.ledger_append import request_events
from govledger.ledger import events as ev
from tests.unit.ledger.test_events import field_type
from tests.unit.ledger.test_transcoder import FIELD_VALUES, LIBRARY, OURS, ours

OLD, NEW = Mapper[uuid.UUID](LIBRARY), Mapper[uuid.UUID](OURS)


def shape(value: Any) -> Any:
    """A value down to its types: key order, bool against int, NaN, -0.0, Decimal exponents,
    time zones (repr tells them apart where `==` does not)."""
    kind = type(value)
    if kind is dict:
        return ("dict", [(shape(k), shape(v)) for k, v in value.items()])
    if kind is list:
        return ("list", [shape(v) for v in value])
    return (kind.__name__, repr(value))


def outcome(decode: Any, data: Any) -> Any:
    """The decoded state's shape, or the error's type and message."""
    try:
        return shape(decode(data))
    except Exception as error:  # the library's errors must be ours too
        return f"{type(error).__name__}: {error}"


# --- JSON texts: mostly valid, with the places where orjson and the stdlib differ ---------

spaces = st.sampled_from(["", "", "", " ", "\n", "\t", "\r", "\x0b", "\x0c", "\xa0", "\ufeff"])
numbers = st.one_of(
    st.integers().map(str),
    st.integers(min_value=-(2**65), max_value=2**65).map(str),  # either side of 64 bits
    st.floats().map(repr),  # nan, inf, 1e+16 ...
    st.from_regex(r"-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,24})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(
        [
            "-0",
            "-0.0",
            "0e0",
            "-0e0",
            "1e400",
            "-1e400",
            "1e-400",
            "NaN",
            "Infinity",
            "-Infinity",
            "01",
            "1.",
            ".5",
            "+1",
            "1e",
            "0x1",
            "4.9e-324",
            "1.7976931348623159e308",
            "9007199254740993",
            "1" + "0" * 30,
            "0." + "0" * 30 + "1",
        ]
    ),
)
strings = st.one_of(
    st.text().map(lambda s: json.dumps(s, ensure_ascii=False)),  # raw surrogates: bad UTF-8
    st.text().map(json.dumps),  # lone surrogates escaped: the stdlib reads them, orjson not
    st.sampled_from(
        [
            '"\\ud800"',
            '"\\udc00x"',
            '"\\ud83d\\ude00"',
            '"\\uD83D\\uDE00"',
            '"\\ud83d\\u0041"',
            '"\x00"',
            '"\x1f"',
            '"\t"',
            '"\x7f"',
            '"\\x41"',
            '"\\/"',
            "'a'",
            '"\\u00e9"',
            '"\\u12"',
            '"\\u0000"',
            '"_type_"',
            '"_data_"',
        ]
    ),
)
keys = st.one_of(strings, st.sampled_from(['"_type_"', '"_data_"', '"a"']))
tag_data = st.one_of(
    st.decimals().map(lambda d: json.dumps(str(d))),
    st.datetimes().map(lambda t: json.dumps(t.isoformat())),
    st.uuids().map(lambda u: json.dumps(u.hex)),
    st.sampled_from(['"1.5"', '" 1.5 "', '"x"', '"2026-12-03T06:00:00+00:00"', "1", "1.5", "null"]),
)
tag_names = st.sampled_from(
    ['"decimal_str"', '"datetime_iso"', '"uuid_hex"', '"nope"', "1", "null", '["uuid_hex"]']
)
scalars = st.one_of(numbers, strings, st.sampled_from(["true", "false", "null", "True", "nul"]))


@st.composite
def arrays(draw: st.DrawFn, inner: st.SearchStrategy[str]) -> str:
    items = draw(st.lists(st.tuples(spaces, inner, spaces), max_size=4))
    return "[" + ",".join(a + v + b for a, v, b in items) + draw(st.sampled_from(["]", "]", ",]"]))


@st.composite
def objects(draw: st.DrawFn, inner: st.SearchStrategy[str]) -> str:
    pairs = draw(st.lists(st.tuples(keys, spaces, inner), max_size=4))  # duplicates too
    return "{" + ",".join(f"{k}:{s}{v}" for k, s, v in pairs) + "}"


@st.composite
def tagged(draw: st.DrawFn, inner: st.SearchStrategy[str]) -> str:
    pairs = [f'"_type_":{draw(tag_names)}', f'"_data_":{draw(tag_data | inner)}']
    pairs += draw(st.sampled_from([[], [], [], ['"x":1'], ['"_type_":"decimal_str"']]))
    return "{" + ",".join(draw(st.permutations(pairs))) + "}"


json_texts = st.recursive(
    scalars, lambda inner: arrays(inner) | objects(inner) | tagged(inner), max_leaves=12
)


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    text = draw(spaces) + draw(json_texts) + draw(spaces)
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:  # a byte spoilt: bad UTF-8, a stray quote or brace
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=2)) + data[at + 1 :]
    return data


@settings(max_examples=3000, deadline=None)
@given(data=documents() | st.binary(max_size=32))
def test_any_document_decodes_as_the_library_decodes_it(data: bytes) -> None:
    assert outcome(OURS.decode, data) == outcome(LIBRARY.decode, data)


@pytest.mark.parametrize("cls", ev.ALL_EVENTS, ids=lambda cls: cls.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_event_decodes_to_the_librarys_event(
    cls: type[ev.LedgerEvent], data: st.DataObject
) -> None:
    values = {
        item.name: data.draw(FIELD_VALUES[field_type(item)], label=item.name)
        for item in dataclasses.fields(cls)
    }
    try:
        stored = OLD.to_stored_event(cls(**values))
    except Exception:  # the library refuses to write it (a huge int, a lone surrogate...)
        return
    assert outcome(NEW.to_domain_event, stored) == outcome(OLD.to_domain_event, stored)
    old, new = OLD.to_domain_event(stored), NEW.to_domain_event(stored)
    assert type(new) is type(old) is cls
    assert shape(vars(new)) == shape(vars(old))


def test_the_servers_events_are_read_without_the_library_by_a_plan_per_shape() -> None:
    transcoder = ours()
    for event in request_events(3):
        state = NEW.to_stored_event(event).state
        assert shape(transcoder.revive(state)) == shape(LIBRARY.decode(state))
    assert transcoder.walks == 2  # an admission and a settlement walked once each, then planned


@pytest.mark.parametrize(
    "data",
    [
        b'{"x":NaN}',
        b'{"x":"\\ud800"}',
        b'{"x":18446744073709551616}',
        b'{"x":-9223372036854775809}',
        b'{"x":1e400}',
        b'{"x":{"_type_":"decimal_str","_data_":"1","y":1}}',
        b'{"x":{"_type_":"decimal_str"}}',
        b'{"x":{"_type_":"nope","_data_":"1"}}',
        b'{"x":{"_type_":"decimal_str","_data_":1.5}}',
        b'{"x":{"_type_":"decimal_str","_data_":"x"}}',
        b'{"x":{"_type_":"uuid_hex","_data_":{"_type_":"uuid_hex","_data_":"0"}}}',
        b"\xef\xbb\xbf{}",
        b"[" * 1100 + b"]" * 1100,
        b'{"x":1',
        b'{"x":{"_type_":"decimal_str","_data_":"x"},"x":1}',  # the library's hook saw it
        b'{"x":{"\\u005ftype_":"decimal_str","_data_":"1"}}',
        b'{"x":"_type_"}',
        b'{"x":1234567890123456789}',  # 19 digits: orjson's float past 64 bits is near
    ],
    ids=repr,
)
def test_what_the_walk_does_not_take_goes_to_the_library(data: bytes) -> None:
    with pytest.raises(Exception):  # noqa: B017, PT011 - any refusal: the library decides
        OURS.revive(data)
    assert outcome(OURS.decode, data) == outcome(LIBRARY.decode, data)
