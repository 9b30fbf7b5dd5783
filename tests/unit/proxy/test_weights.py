"""effective_weights: properties over any configured weights and health (hypothesis)."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from govledger.projections.policy import ProviderKey, Route
from govledger.projections.route_health import (
    DEGRADED,
    FAILED,
    HEALTHY,
    RECOVERING,
    STATES,
    RouteHealth,
)
from govledger.proxy.enforcement.routing import choose_key
from govledger.proxy.enforcement.weights import (
    PARAMS,
    adapt_routes,
    effective_weights,
    health_factor,
)

NOW = 1_780_000_000.0
RANK = {HEALTHY: 0, DEGRADED: 1, RECOVERING: 2, FAILED: 3}


def health(
    state: str = HEALTHY,
    error_rate: float = 0.0,
    latency_ms: float | None = 50.0,
    cooling_until: float = 0.0,
    samples: float = 20.0,
) -> RouteHealth:
    """A route's health with the given signals."""
    return RouteHealth(state, 0.0, error_rate, latency_ms, samples, cooling_until, 0.0, 0.0)


healths = st.builds(
    health,
    state=st.sampled_from(STATES),
    error_rate=st.floats(0, 1),
    latency_ms=st.one_of(st.none(), st.floats(1, 10_000)),
    cooling_until=st.floats(NOW - 60, NOW + 60),
    samples=st.floats(0, 100),
)
names = st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=8, unique=True)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, float], dict[str, RouteHealth | None]]:
    """Configured weights and health (or no evidence) for 1..8 routes."""
    routes = draw(names)
    configured = {n: draw(st.floats(0, 100)) for n in routes}
    known = {n: draw(st.one_of(st.none(), healths)) for n in routes}
    return configured, known


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_weights_sum_to_one_and_are_never_all_zero(scenario: tuple[Any, ...]) -> None:
    configured, known = scenario
    weights = effective_weights(configured, known, NOW)

    assert set(weights) == set(configured)
    assert math.isclose(sum(weights.values()), 1.0, rel_tol=1e-9)
    assert all(w >= 0 for w in weights.values())


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_no_route_gets_more_than_max_boost_times_its_configured_share(
    scenario: tuple[Any, ...],
) -> None:
    configured, known = scenario
    total = sum(configured.values())
    assume(total > 0)
    weights = effective_weights(configured, known, NOW)
    live = sum(
        configured[n]
        for n in configured
        if health_factor(known[n], _best(known), NOW) > 0 and configured[n] > 0
    )

    if live / total >= 1 / PARAMS.max_boost:  # the live routes can hold the traffic
        for name, share in weights.items():
            assert share <= PARAMS.max_boost * configured[name] / total + 1e-9


def _best(known: dict[str, RouteHealth | None]) -> float | None:
    lat = [
        h.latency_ms
        for h in known.values()
        if h is not None and h.latency_ms is not None and h.samples >= PARAMS.latency_samples
    ]
    return min(lat) if lat else None


@settings(max_examples=300, deadline=None)
@given(healths, healths, st.floats(0.1, 100), st.lists(healths, max_size=4))
def test_a_strictly_worse_route_never_gets_more_than_a_better_one(
    one: RouteHealth, two: RouteHealth, weight: float, others: list[RouteHealth]
) -> None:
    better = health(
        min(one.state, two.state, key=RANK.__getitem__),
        min(one.error_rate, two.error_rate),
        _min_latency(one.latency_ms, two.latency_ms),
        min(one.cooling_until, two.cooling_until),
        max(one.samples, two.samples),
    )
    worse = health(
        max(one.state, two.state, key=RANK.__getitem__),
        max(one.error_rate, two.error_rate),
        _max_latency(one.latency_ms, two.latency_ms),
        max(one.cooling_until, two.cooling_until),
        max(one.samples, two.samples),
    )
    configured = {"better": weight, "worse": weight} | {f"o{i}": 1.0 for i in range(len(others))}
    known = {"better": better, "worse": worse} | {f"o{i}": h for i, h in enumerate(others)}
    weights = effective_weights(configured, known, NOW)

    assert weights["worse"] <= weights["better"] + 1e-12


def _min_latency(a: float | None, b: float | None) -> float | None:
    return min(a, b) if a is not None and b is not None else (a if b is None else b)


def _max_latency(a: float | None, b: float | None) -> float | None:
    return max(a, b) if a is not None and b is not None else (a if b is None else b)


def test_a_cooling_route_gets_nothing_and_a_cooled_one_the_probing_floor() -> None:
    configured = {"a": 1.0, "b": 1.0, "c": 1.0}
    cooling = {"a": health(), "b": health(FAILED, 1.0, cooling_until=NOW + 3), "c": health()}
    cooled = {**cooling, "b": health(FAILED, 1.0, cooling_until=NOW - 0.5)}

    assert effective_weights(configured, cooling, NOW)["b"] == 0.0
    floor = PARAMS.probe_floor / (2 + PARAMS.probe_floor)
    assert effective_weights(configured, cooled, NOW)["b"] == pytest.approx(floor)
    recovering = {**cooling, "b": health(RECOVERING)}
    assert effective_weights(configured, recovering, NOW)["b"] == pytest.approx(floor)


def test_every_route_cooling_falls_back_to_the_configured_weights() -> None:
    configured = {"a": 3.0, "b": 1.0}
    known = {n: health(FAILED, 1.0, cooling_until=NOW + 5) for n in configured}

    assert effective_weights(configured, known, NOW) == {"a": 0.75, "b": 0.25}


def test_a_healthy_route_ignores_small_error_rates_a_degraded_one_does_not() -> None:
    configured = {"a": 1.0, "b": 1.0}

    calm = effective_weights(configured, {"a": health(), "b": health(HEALTHY, 0.08)}, NOW)
    hurt = effective_weights(configured, {"a": health(), "b": health(DEGRADED, 0.08)}, NOW)

    assert calm["b"] == pytest.approx(0.5)  # hysteresis: below degrade_at nothing moves
    assert hurt["b"] == pytest.approx(math.exp(-20 * 0.08) / (1 + math.exp(-20 * 0.08)))


def test_latency_within_the_tolerance_costs_nothing_beyond_it_scales_down() -> None:
    configured = {"a": 1.0, "b": 1.0}

    near = effective_weights(configured, {"a": health(), "b": health(latency_ms=70.0)}, NOW)
    slow = effective_weights(configured, {"a": health(), "b": health(latency_ms=500.0)}, NOW)

    assert near["b"] == pytest.approx(0.5)
    assert slow["b"] == pytest.approx(0.15 / 1.15)


def test_key_choice_within_a_provider_follows_each_keys_health() -> None:
    keys = (ProviderKey("good", 1.0, ("*",), "s1"), ProviderKey("bad", 1.0, ("*",), "s2"))
    route = Route("p", "openai", "https://p.example/v1", 1.0, ("*",), keys, (), ())
    other = Route("q", "openai", "https://q.example/v1", 1.0, ("*",), keys[:1], (), ())
    known = {("p", "bad", "m"): health(FAILED, 1.0, cooling_until=NOW + 5)}

    adapted = {r.provider: r for r in adapt_routes([route, other], "m", known, NOW)}

    assert [k.weight for k in adapted["p"].keys] == [1.0, 0.0]  # the failing key gets nothing
    assert adapted["p"].weight == pytest.approx(0.5)  # its provider keeps a healthy key
    assert choose_key(adapted["p"], "m", random.Random(3)) == adapted["p"].keys[0]
