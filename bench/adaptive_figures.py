"""Figures of adaptive routing (docs/performance.md): the event-time scenarios of
tests/unit/proxy/adaptive_simulation.py and the admission cost, weighted vs adaptive.

Run from the repository root: `PYTHONPATH=. .venv/bin/python bench/adaptive_figures.py`.
"""

from __future__ import annotations

import random
import timeit
from decimal import Decimal

from govledger.projections.policy import KeyPolicy
from govledger.projections.route_cooling import RouteCooling
from govledger.proxy.enforcement.admission import admit
from govledger.proxy.enforcement.routing import choose_key, cooled_key, cooled_last
from tests.unit.proxy.adaptive_simulation import (  # noqa: PLC2701
    START,
    Behaviour,
    Trace,
    _at,
    between,
    key_policy,
    route,
    simulate,
    steady,
)


def windows(trace: Trace, name: str, start: int, end: int, width: int = 10) -> list[float]:
    """The route's share in consecutive windows of `width` seconds."""
    return [round(trace.share(name, t, t + width), 3) for t in range(start, end, width)]


def main() -> None:
    """Print every figure."""
    for seed in (7, 11, 23):
        errors = Behaviour(error_rate=0.2)
        scripts = {"a": steady(), "b": between(60, 120, errors), "c": steady()}
        trace = simulate(scripts, 240, seed=seed)
        print(
            f"seed {seed}: 20% errors over 60-120 s; b's share per 10 s from 50 s:"
            f" {windows(trace, 'b', 50, 200)}; 90-120 s {trace.share('b', 90, 120):.3f},"
            f" 180-240 s {trace.share('b', 180, 240):.3f}"
        )
        slow = simulate(
            {"a": steady(), "b": steady(Behaviour(latency_ms=500)), "c": steady()}, 120, seed=seed
        )
        print(f"seed {seed}: 10x slower route's share 15-120 s: {slow.share('b', 15, 120):.3f}")
        for local in (True, False):
            limited = simulate(
                {
                    "a": steady(),
                    "b": between(60, 60.5, Behaviour(retry_after_s=5.0)),
                    "c": steady(),
                },
                120,
                seed=seed,
                local_cooling=local,
            )
            hits = sorted(s.t for s in limited.requests if "b" in s.attempted and s.t >= 60)
            first_429 = hits[0]
            last_429 = max(t for t in hits if t < 60.5)
            gap, before = max((later - t, t) for t, later in zip(hits, hits[1:], strict=False))
            print(
                f"seed {seed}: 429 + Retry-After 5 s over 60.0-60.5 s, local cool-down {local}"
                f" (first 429 at {first_429 - 60:.2f} s, last at {last_429 - 60:.2f} s):"
                f" attempts at b until {before - 60:.2f} s, then none for {gap:.2f} s, first"
                f" probe {before + gap - first_429:.2f} s after the first 429; share 80-120 s"
                f" {limited.share('b', 80, 120):.3f}"
            )
    warm = simulate(
        {
            "a": steady(),
            "b": steady(Behaviour(error_rate=0.2)),
            "c": steady(Behaviour(latency_ms=500)),
        },
        60,
    )
    rng = random.Random(1)
    now = _at(START + 60.2)
    for routing in ("weighted", "adaptive"):
        policy = key_policy([route("a"), route("b"), route("c")], routing)

        def one(policy: KeyPolicy = policy) -> None:
            admit(policy, warm.state, "m1", None, 20, lambda r: Decimal(0), now, rng)

        one()
        seconds = min(timeit.repeat(one, number=20_000, repeat=5)) / 20_000
        print(f"admission, three routes, {routing}: {seconds * 1e6:.1f} us")
    chain_cost()
    fold = warm.state.routes

    def replay() -> None:
        fold._cache = fold._overlaid = None  # noqa: SLF001 - time the replay, not the memo
        fold.health(START + 60.2)

    seconds = min(timeit.repeat(replay, number=100, repeat=5)) / 100
    print(f"health replay, 3 routes with 60 s of evidence (once a tick): {seconds * 1e3:.2f} ms")


def chain_cost() -> None:
    """The chain's extra work per request while a route is cooling locally (else none)."""
    chain = (route("a"), route("b"), route("c"))
    cooling = RouteCooling()
    cooling.cool(("b", "b-key", "m1"), START + 5, START)
    rng = random.Random(1)

    def walk() -> None:
        ordered = cooled_last(chain, "m1", cooling, START)
        for chosen in ordered:
            choose_key(chosen, "m1", rng, cooled_key(chosen, "m1", cooling, START))

    def plain() -> None:
        for chosen in chain:
            choose_key(chosen, "m1", rng)

    for name, run in (("no cool-down", plain), ("one route cooling", walk)):
        seconds = min(timeit.repeat(run, number=20_000, repeat=5)) / 20_000
        print(f"chain walk, three routes, {name}: {seconds * 1e6:.1f} us")


if __name__ == "__main__":
    main()
