"""Local cool-downs: a 429 seen here cools its route at once; chains try it last, keys skip it."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from govledger.projections.route_cooling import RouteCooling
from govledger.projections.route_health import RouteHealthFold
from govledger.proxy.enforcement.routing import choose_key, cooled_key, cooled_last
from tests.unit.proxy.test_routing import key, route

NOW = 1_780_000_000.0


def test_a_cool_down_lasts_until_its_end_and_a_longer_one_wins() -> None:
    cooling = RouteCooling()
    assert cooling.cool(("b", "k", "m"), NOW + 5, NOW)
    assert not cooling.cool(("b", "k", "m"), NOW + 4, NOW + 1)  # shorter: the held one stays
    assert not cooling.cool(("c", "k", "m"), NOW, NOW)  # already over
    assert cooling.cooling(("b", "k", "m"), NOW + 4.9)
    assert not cooling.cooling(("b", "k", "m"), NOW + 5)
    assert cooling.version == 1
    cooling.expire(NOW + 5)
    assert cooling.until == {}


def test_cool_downs_are_bounded_and_over_ones_make_room() -> None:
    cooling = RouteCooling(max_routes=2)
    assert cooling.cool(("a", "k", "m"), NOW + 1, NOW)
    assert cooling.cool(("b", "k", "m"), NOW + 9, NOW)
    assert not cooling.cool(("c", "k", "m"), NOW + 9, NOW)  # full
    assert cooling.cool(("c", "k", "m"), NOW + 9, NOW + 2)  # a's is over: room for c
    assert set(cooling.until) == {("b", "k", "m"), ("c", "k", "m")}


def test_a_cooling_route_goes_last_in_the_chain_and_the_rest_keep_their_order() -> None:
    chain = (route("a", 1), route("b", 1), route("c", 1))
    cooling = RouteCooling()
    assert cooled_last(chain, "m", cooling, NOW) is chain  # nothing cooling: unchanged
    cooling.cool(("a", "a-key", "m"), NOW + 5, NOW)
    assert [r.provider for r in cooled_last(chain, "m", cooling, NOW)] == ["b", "c", "a"]
    assert [r.provider for r in cooled_last(chain, "m", cooling, NOW + 5)] == ["a", "b", "c"]


def test_a_route_with_one_key_cooling_stays_in_place_and_its_other_key_is_chosen() -> None:
    two = route("a", 1, [key("k1"), key("k2")])
    chain = (two, route("b", 1))
    cooling = RouteCooling()
    cooling.cool(("a", "k1", "m"), NOW + 5, NOW)
    assert cooled_last(chain, "m", cooling, NOW) == chain
    rng = random.Random(3)
    avoid = cooled_key(two, "m", cooling, NOW)
    picked = {choose_key(two, "m", rng, avoid).id for _ in range(200)}  # type: ignore[union-attr]
    assert picked == {"k2"}
    cooling.cool(("a", "k2", "m"), NOW + 5, NOW)
    both = {choose_key(two, "m", rng, cooled_key(two, "m", cooling, NOW)) for _ in range(50)}
    assert len(both) == 2  # every key cooling: the usual choice (never none)
    assert [r.provider for r in cooled_last(chain, "m", cooling, NOW)] == ["b", "a"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=6))
def test_cooled_last_is_a_stable_partition(cooled: list[bool]) -> None:
    chain = tuple(route(f"r{i}", 1) for i in range(len(cooled)))
    cooling = RouteCooling()
    for i, flag in enumerate(cooled):
        if flag:
            cooling.cool((f"r{i}", f"r{i}-key", "m"), NOW + 5, NOW)
    ordered = [r.provider for r in cooled_last(chain, "m", cooling, NOW)]
    live = [f"r{i}" for i, flag in enumerate(cooled) if not flag]
    assert ordered == live + [f"r{i}" for i, flag in enumerate(cooled) if flag]


def test_a_huge_retry_after_cools_no_longer_than_the_folds_horizon() -> None:
    cooling = RouteCooling(longest_s=120.0)
    assert cooling.cool(("b", "k", "m"), NOW + 86_400, NOW)
    assert cooling.until[("b", "k", "m")] == NOW + 120.0


def test_the_folds_tick_forgets_the_cool_downs_that_are_over() -> None:
    fold = RouteHealthFold()
    fold.cooling.cool(("b", "k", "m"), NOW + 5, NOW)
    fold.health(NOW + 1)
    assert fold.cooling.until
    fold.health(NOW + 6)
    assert fold.cooling.until == {}  # so the chain no longer checks keys on every request
