"""The stores' transcoder writes the library's exact bytes for every event, by orjson or not."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    UUIDAsHex,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from govledger.ledger import events as ev
from govledger.ledger.store import Governance, Usage
from govledger.ledger.transcoder import MAX_DEPTH, LedgerTranscoder
from tests.unit.ledger.test_events import field_type


def library() -> JSONTranscoder:
    """The library's own transcoder, with the transcodings the store's applications register."""
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


def ours() -> LedgerTranscoder:
    """The stores' transcoder, registered as the applications register it."""
    transcoder = LedgerTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


LIBRARY, OURS = library(), ours()
OLD, NEW = Mapper[uuid.UUID](LIBRARY), Mapper[uuid.UUID](OURS)


class Colour(enum.Enum):
    RED = "red"


class Word(str):
    pass


class Count(int):
    pass


@dataclasses.dataclass
class Point:
    x: int


zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()  # huge ones too: orjson refuses past 64 bits, the library writes them
    | st.floats()  # nan, inf, exponents: the library's form, from the library
    | st.decimals()  # every exponent, NaN and Infinity
    | st.text()  # every code point but lone surrogates (those are tested on their own)
    | st.uuids()  # the library's uuid_hex, never orjson's plain string
    | st.datetimes(timezones=zones)
    | st.datetimes()  # naive
    | st.sampled_from([Colour.RED, Word("w"), Count(3), Point(1), (1, 2), b"x"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        | st.dictionaries(st.integers() | st.sampled_from([Word("k"), None]), inner, max_size=2)
    ),
    max_leaves=16,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=5)

plain_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(min_value=1e-4, max_value=1e16, exclude_max=True).flatmap(
        lambda f: st.sampled_from([f, -f, 0.0, -0.0])
    )
    | st.decimals()
    | st.text(st.characters(blacklist_categories=["Cs"]))
    | st.datetimes(timezones=zones)
)
plain_objects = st.dictionaries(
    st.text(st.characters(blacklist_categories=["Cs"]), max_size=8),
    st.recursive(
        plain_scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=24,
    ),
    max_size=6,
)

FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "UUID": st.uuids(),
    "int": st.integers(),
    "datetime": st.datetimes(timezones=zones),
    "str": st.text(),
    "str | None": st.none() | st.text(),
    "JSON": json_objects,
    "list[JSON]": st.lists(json_objects, max_size=4),
    "Decimal": st.decimals(),
    "float": st.floats(),
    "bool": st.booleans(),
}


def encoded(mapper: Mapper[uuid.UUID], event: ev.LedgerEvent) -> StoredEvent | str:
    """The stored event, or the error's type and message where the encoder refuses it."""
    try:
        return mapper.to_stored_event(event)
    except Exception as error:  # the library's refusals must be ours too
        return f"{type(error).__name__}: {error}"


def test_every_field_type_of_every_event_has_a_strategy() -> None:
    """A new event with a field of a new type fails here until the strategies cover it."""
    missing = {
        f"{cls.__name__}.{item.name}: {field_type(item)}"
        for cls in ev.ALL_EVENTS
        for item in dataclasses.fields(cls)
        if field_type(item) not in FIELD_VALUES
    }
    assert missing == set()


@pytest.mark.parametrize("cls", ev.ALL_EVENTS, ids=lambda cls: cls.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_event_encodes_to_the_librarys_bytes_and_decodes_as_the_librarys(
    cls: type[ev.LedgerEvent], data: st.DataObject
) -> None:
    values = {
        item.name: data.draw(FIELD_VALUES[field_type(item)], label=item.name)
        for item in dataclasses.fields(cls)
    }
    event = cls(**values)

    old, new = encoded(OLD, event), encoded(NEW, event)

    assert new == old  # bytes identical (or the same refusal)
    if isinstance(old, StoredEvent) and isinstance(new, StoredEvent):
        # decoded by the library, alike (repr: NaN is not equal to itself)
        assert repr(vars(OLD.to_domain_event(new))) == repr(vars(OLD.to_domain_event(old)))


@settings(max_examples=500, deadline=None)
@given(state=json_objects)
def test_any_state_encodes_to_the_librarys_bytes(state: dict[str, Any]) -> None:
    try:
        old: bytes | str = LIBRARY.encode(state)
    except Exception as error:
        old = type(error).__name__
    try:
        new: bytes | str = OURS.encode(state)
    except Exception as error:
        new = type(error).__name__
    assert new == old


@settings(max_examples=500, deadline=None)
@given(state=plain_objects)
def test_plain_states_go_through_orjson_and_give_the_librarys_bytes(state: dict[str, Any]) -> None:
    assert OURS.plain(state.values(), 0)
    assert OURS.encode(state) == LIBRARY.encode(state)


@pytest.mark.parametrize(
    "value",
    [
        uuid.UUID(int=7),
        Colour.RED,
        Word("w"),
        Count(3),
        Point(1),
        (1, 2),
        float("nan"),
        float("inf"),
        1e-05,
        1e16,
        2**64,
        -(2**63) - 1,
        "\ud800",
        {1: "int key"},
        {Word("k"): 1},
        datetime(2026, 1, 1),
        Decimal("1E+3"),
        Decimal("-0.000"),
        Decimal("sNaN"),
    ],
    ids=repr,
)
def test_the_values_orjson_writes_otherwise_are_written_as_the_library_writes_them(
    value: Any,
) -> None:
    state = {"deep": [{"value": value}]}
    try:
        old: bytes | str = LIBRARY.encode(state)
    except Exception as error:
        old = type(error).__name__
    try:
        new: bytes | str = OURS.encode(state)
    except Exception as error:
        new = type(error).__name__
    assert new == old


def test_a_uuid_in_a_state_comes_back_as_a_uuid() -> None:
    state = {"data": {"id": uuid.UUID(int=1)}}
    assert OURS.decode(OURS.encode(state)) == state
    assert b"uuid_hex" in OURS.encode(state)
    assert b"uuid_hex" not in orjson.dumps(state)  # what orjson alone would have written


def test_states_nested_past_the_limit_are_the_librarys_and_a_cycle_is_refused() -> None:
    deep: dict[str, Any] = {"x": 1}
    for _ in range(MAX_DEPTH + 5):
        deep = {"d": [deep]}
    assert OURS.encode(deep) == LIBRARY.encode(deep)
    cycle: dict[str, Any] = {}
    cycle["self"] = [cycle]
    with pytest.raises(ValueError, match="Circular reference"):
        OURS.encode(cycle)


def test_plain_states_are_written_by_orjson_and_others_by_the_library() -> None:
    assert OURS.plain({"a": [1, "b", None, Decimal("1.5"), datetime.now(UTC), 0.5]}.values(), 0)
    assert not OURS.plain({"a": [uuid.UUID(int=1)]}.values(), 0)
    assert not OURS.plain({"a": {"b": 1e-5}}.values(), 0)
    assert not OURS.plain({"a": (1,)}.values(), 0)


def test_a_transcoding_registered_over_decimal_takes_decimals_off_orjson() -> None:
    class DecimalAsFloat(DecimalAsStr):
        def encode(self, obj: Decimal) -> Any:
            return {"f": float(obj)}

    transcoder, reference = ours(), library()
    transcoder.register(DecimalAsFloat())
    reference.register(DecimalAsFloat())
    state = {"cost": Decimal("1e-9")}
    assert not transcoder.plain(state.values(), 0)
    assert transcoder.encode(state) == reference.encode(state)


@pytest.mark.parametrize("app", [Governance, Usage], ids=lambda app: app.name)
def test_both_applications_of_the_store_encode_with_it(app: type[Governance | Usage]) -> None:
    transcoder = app(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper.transcoder
    assert isinstance(transcoder, LedgerTranscoder)
    assert transcoder.names.keys() == LIBRARY.names.keys()
