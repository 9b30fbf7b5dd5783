"""Adaptive routing end to end in event time: the real admission decision over the health
fold, three routes of equal configured weight (tests/unit/proxy/adaptive_simulation.py).

The figures these runs give are in docs/performance.md ("Adaptive routing")."""

from __future__ import annotations

import pytest

from govledger.projections.route_health import FAILED, HEALTHY, RECOVERING
from govledger.projections.usage_state import UsageState
from govledger.proxy.enforcement.weights import adapt_routes
from tests.unit.proxy.adaptive_simulation import (
    START,
    Behaviour,
    between,
    route,
    simulate,
    steady,
)

ROUTE_B = ("b", "b-key", "m1")


@pytest.mark.parametrize("seed", [7, 11, 23])
def test_a_route_at_20_percent_errors_falls_below_10_percent_within_30s_and_returns(
    seed: int,
) -> None:
    errors = Behaviour(error_rate=0.2)
    scripts = {"a": steady(), "b": between(60, 120, errors), "c": steady()}
    trace = simulate(scripts, 240, seed=seed)

    assert 0.25 < trace.share("b", 0, 60) < 0.42  # equal weights before the errors
    assert trace.share("b", 90, 120) < 0.10  # within 30 s of the errors starting
    assert 0.27 < trace.share("b", 170, 240) < 0.40  # its share back within 60 s of them ending
    assert all(s.ok for s in trace.requests)  # failover answered every request meanwhile


def test_a_route_ten_times_slower_gets_less_than_15_percent() -> None:
    slow = Behaviour(latency_ms=500.0)
    trace = simulate({"a": steady(), "b": steady(slow), "c": steady()}, 90)

    assert trace.share("b", 15, 90) < 0.15
    assert trace.share("b", 15, 90) > 0.0  # still sampled, so its latency is still known


def test_weighted_routing_ignores_health() -> None:
    errors = Behaviour(error_rate=0.2)
    trace = simulate({"a": steady(), "b": steady(errors), "c": steady()}, 60, routing="weighted")

    assert 0.27 < trace.share("b", 20, 60) < 0.40


def test_a_429_with_retry_after_5_gets_nothing_for_5s_then_is_probed() -> None:
    limited = Behaviour(retry_after_s=5.0)
    trace = simulate({"a": steady(), "b": between(60, 60.5, limited), "c": steady()}, 120)
    first_429 = min(s.t for s in trace.requests if "b" in s.attempted and s.t >= 60)

    # The instance that saw the 429 cools b at once: from the very next request until the
    # Retry-After ends, b gets no attempt at all, not even as a fallback.
    assert trace.attempts_at("b", first_429 + 1e-9, first_429 + 5.0) == 0
    assert trace.attempts_at("b", first_429 + 5.0, first_429 + 10.0) > 0  # then probed
    assert 0.27 < trace.share("b", 80, 120) < 0.40  # and back once the probes succeed
    health = trace.state.routes
    changes = [(c.previous, c.state) for c in health.transitions(START + 100) if c.route == ROUTE_B]
    assert changes[:3] == [(HEALTHY, FAILED), (FAILED, RECOVERING), (RECOVERING, HEALTHY)]


def test_without_the_local_cool_down_a_429_is_heeded_only_once_its_bucket_settles() -> None:
    limited = Behaviour(retry_after_s=5.0)
    scripts = {"a": steady(), "b": between(60, 65, limited), "c": steady()}
    trace = simulate(scripts, 80, local_cooling=False)
    first_429 = min(s.t for s in trace.requests if "b" in s.attempted and s.t >= 60)

    late = trace.attempts_at("b", first_429 + 1e-9, first_429 + 1.0)
    assert late > 0  # the gap the local cool-down closes (fold alone: up to bucket + settle)
    assert trace.attempts_at("b", first_429 + 1.0, first_429 + 5.0) == 0


def test_the_local_cool_down_holds_while_the_fold_catches_up_then_yields_to_it() -> None:
    state = UsageState()
    fold = state.routes
    fold.observe(_ok("b"), START)
    assert fold.health(START + 2)[ROUTE_B].state == HEALTHY
    assert fold.cooling.cool(ROUTE_B, START + 7.2, START + 2.2)
    assert not fold.cooling.cool(ROUTE_B, START + 6.0, START + 2.3)  # a longer one is held

    seen = fold.health(START + 2.3)[ROUTE_B]  # the same tick as before: recomputed at once
    assert (seen.state, seen.cooling_until) == (FAILED, START + 7.2)
    routes = [route("a"), route("b"), route("c")]
    shares = {r.provider: r.weight for r in adapt_routes(routes, "m1", fold.health(START + 5), 0)}
    assert shares["b"] == 0.0
    assert fold.replayed(START + 2.3)[ROUTE_B].state == HEALTHY  # the evidence alone: not yet
    assert fold.health(START + 7.5)[ROUTE_B].state == HEALTHY  # over: the replay applies
    assert fold.cooling.active(START + 7.5) == {}


def _ok(provider: str) -> dict[str, object]:
    return {"provider": provider, "key_id": f"{provider}-key", "model": "m1", "status": 200,
            "error": "", "ms": 50.0}  # fmt: skip


def test_two_instances_compute_the_same_weights_at_every_tick() -> None:
    routes = [route("a"), route("b"), route("c")]
    ticks: list[list[list[float]]] = []

    def compare(now: float, states: list[UsageState]) -> None:
        weights = []
        for state in states:
            tick = state.routes.tick(now)
            adapted = adapt_routes(routes, "m1", state.routes.health(now), tick)
            weights.append(
                [r.weight for r in adapted] + [k.weight for r in adapted for k in r.keys]
            )
        ticks.append(weights)

    errors = Behaviour(error_rate=0.3, latency_ms=80.0)
    scripts = {"a": steady(), "b": between(20, 50, errors), "c": steady(Behaviour(latency_ms=300))}
    # The other instance reads each event up to 0.4 s late (under settle_s), out of order.
    simulate(scripts, 80, states=[UsageState()], lag_s=0.4, on_tick=compare)

    assert len(ticks) == 80
    assert all(mine == theirs for mine, theirs in ticks)  # bit-identical, every tick
    assert any(mine[1] < 0.1 for mine, _ in ticks)  # and the weights did move


def test_two_instances_agree_at_every_tick_around_a_429_one_of_them_saw() -> None:
    routes = [route("a"), route("b"), route("c")]
    ticks: list[tuple[float, list[list[float]]]] = []

    def compare(now: float, states: list[UsageState]) -> None:
        weights = []
        for state in states:
            tick = state.routes.tick(now)
            adapted = adapt_routes(routes, "m1", state.routes.health(now), tick)
            weights.append([r.weight for r in adapted])
        ticks.append((now - START, weights))

    limited = Behaviour(retry_after_s=5.0)
    scripts = {"a": steady(), "b": between(60, 60.5, limited), "c": steady()}
    # Only the first instance admits, so only it sees the 429 and cools b at once; the other
    # reads the settlement up to 0.4 s late and marks b Failed when its bucket settles.
    simulate(scripts, 80, states=[UsageState()], lag_s=0.4, on_tick=compare)

    assert all(mine == theirs for _, (mine, theirs) in ticks)  # every whole second
    assert [t for t, (mine, _) in ticks if mine[1] == 0.0] == [61, 62, 63, 64, 65]
