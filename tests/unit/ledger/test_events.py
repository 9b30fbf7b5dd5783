"""The event vocabulary: frozen facts with one-line docstrings that store and load unchanged."""

from __future__ import annotations

import dataclasses
import inspect
import re
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import Application
from hypothesis import given, settings
from hypothesis import strategies as st

from govledger.ledger import events as ev
from govledger.ledger.store import Governance, Usage

BASES = (ev.LedgerEvent, ev.GovernanceEvent, ev.EntityEvent, ev.UsageEvent, ev.AllotmentEvent)
IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
SECRET_WORDS = re.compile(
    r"secret|password|passwd|passphrase|credential|api_?key|private|bearer|plaintext"
    r"|(^|_)token$|(^|_)value$|_key$"
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "UUID": st.uuids(),
    "int": st.integers(min_value=1, max_value=2**31),
    "datetime": st.datetimes(timezones=st.just(UTC)),
    "str": st.text(max_size=20),
    "str | None": st.none() | st.text(max_size=20),
    "JSON": json_objects,
    "list[JSON]": st.lists(json_objects, max_size=3),
    "Decimal": st.decimals(allow_nan=False, allow_infinity=False),
    "float": st.floats(allow_nan=False, allow_infinity=False),
    "bool": st.booleans(),
}


def field_type(item: dataclasses.Field[Any]) -> str:
    """A field's annotation as written (the module defers annotations)."""
    annotation = item.type if isinstance(item.type, str) else item.type.__name__
    return {"TAggregateID": "UUID"}.get(annotation, annotation)


@cache
def application_of(cls: type[ev.LedgerEvent]) -> Application[Any]:
    """The store's application (in memory) that records this kind of event."""
    if cls in ev.GOVERNANCE_EVENTS:
        return Governance(env=IN_MEMORY)
    return Usage(env=IN_MEMORY)


@pytest.mark.parametrize("cls", ev.ALL_EVENTS, ids=lambda cls: cls.__name__)
def test_every_event_is_a_frozen_dataclass(cls: type[ev.LedgerEvent]) -> None:
    assert dataclasses.is_dataclass(cls)
    assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]


@pytest.mark.parametrize("cls", ev.ALL_EVENTS, ids=lambda cls: cls.__name__)
def test_every_event_has_a_one_line_docstring_of_its_own(cls: type[ev.LedgerEvent]) -> None:
    doc = inspect.cleandoc(cls.__doc__ or "")
    assert doc, f"{cls.__name__} has no docstring"
    assert not doc.startswith(f"{cls.__name__}("), "dataclass made the docstring up"
    assert len(doc.splitlines()) == 1, f"{cls.__name__}'s docstring is longer than one line"
    assert doc.endswith(".")


@pytest.mark.parametrize("cls", ev.ALL_EVENTS, ids=lambda cls: cls.__name__)
def test_every_event_is_named_as_a_past_fact(cls: type[ev.LedgerEvent]) -> None:
    # the membership facts keep their object after the verb: User Joined Team, User Left Team
    assert cls.__name__.endswith("ed") or cls.__name__ in ("UserJoinedTeam", "UserLeftTeam")


def test_every_concrete_event_in_the_module_is_listed_once_in_all_events() -> None:
    defined = {
        obj
        for obj in vars(ev).values()
        if isinstance(obj, type) and issubclass(obj, ev.LedgerEvent) and obj not in BASES
    }
    assert set(ev.ALL_EVENTS) == defined
    assert len(ev.ALL_EVENTS) == len(defined)
    assert not set(ev.GOVERNANCE_EVENTS) & set(ev.USAGE_EVENTS)
    assert all(issubclass(cls, ev.EntityEvent) for cls in ev.GOVERNANCE_EVENTS)
    assert all(issubclass(cls, ev.UsageEvent) for cls in ev.USAGE_EVENTS)


@pytest.mark.parametrize("cls", ev.ALL_EVENTS, ids=lambda cls: cls.__name__)
def test_no_field_name_suggests_a_secret_value(cls: type[ev.LedgerEvent]) -> None:
    suspicious = [f.name for f in dataclasses.fields(cls) if SECRET_WORDS.search(f.name)]
    assert suspicious == []


def test_the_secret_name_check_catches_what_it_should() -> None:
    caught = ["api_key", "secret", "value", "key_value", "provider_key", "password", "token"]
    passed = ["key_id", "tokens", "provider_key_id", "value_hash", "entity_id", "data"]
    assert all(SECRET_WORDS.search(name) for name in caught)
    assert not any(SECRET_WORDS.search(name) for name in passed)


@pytest.mark.parametrize("cls", ev.ALL_EVENTS, ids=lambda cls: cls.__name__)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_every_event_round_trips_through_the_stores_mapper_unchanged(
    cls: type[ev.LedgerEvent], data: st.DataObject
) -> None:
    values = {
        item.name: data.draw(FIELD_VALUES[field_type(item)], label=item.name)
        for item in dataclasses.fields(cls)
    }
    event = cls(**values)
    mapper = application_of(cls).mapper

    loaded = mapper.to_domain_event(mapper.to_stored_event(event))

    assert type(loaded) is cls
    assert loaded == event


def test_amounts_come_back_as_decimals_and_times_as_aware_datetimes() -> None:
    event = ev.RequestAbandoned(
        originator_id=UUID(int=1),
        originator_version=2,
        timestamp=datetime(2025, 3, 1, 12, 0, 0, 7, tzinfo=UTC),
        request_id=str(UUID(int=1)),
        instance="gw-1",
        incarnation="a1",
        reason="process stopped before settling",
        charges=[
            {
                "budget": "team:t#1d",
                "period": "2025-03-01T00:00:00+00:00",
                "amount": Decimal("0.000100"),
            }
        ],
    )
    mapper = Usage(env=IN_MEMORY).mapper

    loaded = mapper.to_domain_event(mapper.to_stored_event(event))

    assert isinstance(loaded, ev.RequestAbandoned)
    assert loaded.charges[0]["amount"].as_tuple() == Decimal("0.000100").as_tuple()
    assert loaded.timestamp.utcoffset() is not None
    assert loaded.timestamp == event.timestamp
