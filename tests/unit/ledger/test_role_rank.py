"""The highest of several roles: built-in order, explicit ranks, supersets rank at least as high."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from govledger.ledger import events as ev
from govledger.ledger.access import ALL
from govledger.ledger.entities import GovernanceState, stream_id
from govledger.ledger.role_rank import highest_role, rank_of

T0 = datetime(2026, 12, 2, tzinfo=UTC)
PERMISSIONS = sorted(ALL)


def with_role(state: GovernanceState, name: str, permissions: set[str], rank: int | None) -> None:
    data: dict[str, object] = {"name": name, "permissions": sorted(permissions)}
    if rank is not None:
        data["rank"] = rank
    state.apply(
        ev.RoleCreated(
            originator_id=stream_id("role", name),
            originator_version=1,
            timestamp=T0,
            actor="system",
            source="api",
            entity_id=name,
            data=data,
        )
    )


def test_admin_beats_developer_beats_viewer() -> None:
    state = GovernanceState()
    assert highest_role(state, ["Viewer", "Admin", "Developer"]) == "Admin"
    assert highest_role(state, ["Viewer", "Developer"]) == "Developer"
    assert highest_role(state, ["nope"]) is None
    assert highest_role(state, []) is None


def test_a_custom_role_ranks_by_its_rank() -> None:
    state = GovernanceState()
    with_role(state, "auditor", {"audit:view", "roles:view"}, 250)  # not within Developer
    assert highest_role(state, ["Developer", "auditor"]) == "auditor"
    with_role(state, "reader", {"audit:view"}, 900)  # within Developer: it ranks as high
    assert rank_of(state, "Developer") == 900
    with_role(state, "intern", {"audit:view"}, None)
    assert highest_role(state, ["Viewer", "intern"]) == "Viewer"


@given(
    small=st.sets(st.sampled_from(PERMISSIONS), max_size=6),
    extra=st.sets(st.sampled_from(PERMISSIONS), max_size=6),
    rank_small=st.one_of(st.none(), st.integers(0, 1000)),
    rank_big=st.one_of(st.none(), st.integers(0, 1000)),
)
def test_a_superset_of_permissions_ranks_at_least_as_high(
    small: set[str], extra: set[str], rank_small: int | None, rank_big: int | None
) -> None:
    state = GovernanceState()
    with_role(state, "small", small, rank_small)
    with_role(state, "big", small | extra, rank_big)
    assert rank_of(state, "big") >= rank_of(state, "small")
    assert rank_of(state, "Admin") >= rank_of(state, "big")
