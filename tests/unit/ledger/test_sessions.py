"""Sessions as entities: started, found by their hash until expiry, ended by an event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from govledger.ledger.commands import AlreadyExistsError, Author, NotFoundError
from govledger.ledger.entities import GovernanceState
from govledger.ledger.sessions import (
    Subject,
    end_session,
    live_session,
    sessions_of,
    start_session,
    subject_is_current,
)

T0 = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
WHO = Author("token:ops", "api")
OPS = Subject("token", "ops", 1)


def started(state: GovernanceState, session_id: str = "s1", digest: str = "h1") -> None:
    state.apply(
        start_session(state, session_id, digest, OPS, "admin_token", timedelta(hours=8), WHO, T0)
    )


def test_a_started_session_is_found_by_its_hash_until_it_expires() -> None:
    state = GovernanceState()
    started(state)
    assert live_session(state, "h1", T0) is not None
    assert live_session(state, "h1", T0 + timedelta(hours=8) - timedelta(microseconds=1))
    assert live_session(state, "h1", T0 + timedelta(hours=8)) is None
    assert live_session(state, "other", T0) is None
    assert sessions_of(state, "token", "ops") == ["s1"]


def test_an_ended_session_is_no_longer_found_and_keeps_why_it_ended() -> None:
    state = GovernanceState()
    started(state)
    ended = end_session(state, "s1", "logout", WHO, T0 + timedelta(minutes=5))
    state.apply(ended)
    assert live_session(state, "h1", T0) is None
    assert ended.data["ended"] == "logout"
    assert ended.originator_version == 2
    with pytest.raises(NotFoundError):
        end_session(state, "s1", "logout", WHO, T0)


def test_a_session_id_is_used_once_and_an_unknown_reason_is_refused() -> None:
    state = GovernanceState()
    started(state)
    with pytest.raises(AlreadyExistsError):
        started(state)
    with pytest.raises(ValueError, match="reason"):
        end_session(state, "s1", "bored", WHO, T0)


def test_a_session_of_a_token_reissued_under_its_name_is_not_current() -> None:
    state = GovernanceState()
    started(state)
    data = state.get("session", "s1")
    assert data is not None
    assert not subject_is_current(state, data)  # no token `ops` in this state at all


@given(
    ttl=st.integers(min_value=1, max_value=30 * 86400),
    at=st.integers(min_value=0, max_value=40 * 86400),
)
def test_a_session_is_live_exactly_before_its_expiry(ttl: int, at: int) -> None:
    state = GovernanceState()
    state.apply(start_session(state, "s", "h", OPS, "admin_token", timedelta(seconds=ttl), WHO, T0))
    assert (live_session(state, "h", T0 + timedelta(seconds=at)) is not None) == (at < ttl)
