"""Adaptive weights: configured weights scaled by each route's health (a pure decision).

`effective_weights(configured, health, now)` gives every route a share: Healthy routes keep
their configured weight, scaled down only by latency; Degraded ones also by their error rate;
a Failed route gets nothing until its cool-down (or Retry-After) ends, then a probing floor
while Recovering. No route exceeds `max_boost` times its configured share while the routes
that may take traffic hold enough configured weight, and if every route is cooling the
configured weights apply. See docs/routing.md for the method and the defaults.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

from govledger.ledger.route_params import DEFAULT_WEIGHTS, WeightParams
from govledger.projections.policy import Route
from govledger.projections.route_cooling import RouteId
from govledger.projections.route_health import (
    DEGRADED,
    FAILED,
    RECOVERING,
    RouteHealth,
    RouteHealthFold,
)

PARAMS = DEFAULT_WEIGHTS


def _latency_factor(health: RouteHealth | None, best: float | None, p: WeightParams) -> float:
    if health is None or health.latency_ms is None or best is None or best <= 0:
        return 1.0
    if health.samples < p.latency_samples:
        return 1.0
    return min(1.0, p.latency_tolerance * best / health.latency_ms)


def health_factor(
    health: RouteHealth | None, best_latency: float | None, now: float, p: WeightParams = PARAMS
) -> float:
    """The multiplier of one route's configured weight, in [0, 1]."""
    if health is None:
        return _latency_factor(health, best_latency, p)
    if health.state == FAILED and now < health.cooling_until:
        return 0.0
    if health.state in (FAILED, RECOVERING):  # cooled down: probed with the floor share
        return p.probe_floor
    factor = _latency_factor(health, best_latency, p)
    if health.state == DEGRADED:
        factor *= math.exp(-p.error_penalty * health.error_rate)
    return max(p.probe_floor, factor)


def _best_latency(health: Mapping[str, RouteHealth | None], p: WeightParams) -> float | None:
    known = [
        h.latency_ms
        for h in health.values()
        if h is not None and h.latency_ms is not None and h.samples >= p.latency_samples
    ]
    return min(known) if known else None


def _capped(raw: dict[str, float], caps: dict[str, float]) -> dict[str, float] | None:
    """Shares proportional to `raw`, none above its cap (water-filling); None if infeasible."""
    shares: dict[str, float] = {}
    free = {name: w for name, w in raw.items() if w > 0}
    left = 1.0
    while free:
        total = sum(free.values())
        over = [n for n, w in free.items() if left * w / total > caps[n] + 1e-12]
        if not over:
            shares.update({n: left * w / total for n, w in free.items()})
            left = 0.0
            break
        for name in over:
            shares[name] = caps[name]
            left -= caps[name]
            del free[name]
    if left > 1e-9:
        return None
    return {name: shares.get(name, 0.0) for name in raw}


def effective_weights(
    configured: Mapping[str, float],
    health: Mapping[str, RouteHealth | None],
    now: float,
    params: WeightParams = PARAMS,
) -> dict[str, float]:
    """Each route's share of traffic (summing to 1) from configured weights and health."""
    names = list(configured)
    if not names:
        return {}
    total = sum(max(configured[n], 0.0) for n in names)
    if total <= 0:
        return {n: 1.0 / len(names) for n in names}
    base = {n: max(configured[n], 0.0) / total for n in names}
    best = _best_latency(health, params)
    raw = {n: base[n] * health_factor(health.get(n), best, now, params) for n in names}
    if sum(raw.values()) <= 0:  # every route cooling: the configured weights apply
        return base
    caps = {n: params.max_boost * base[n] for n in names}
    shares = _capped(raw, caps)
    if shares is None:  # the live routes cannot hold the traffic within their caps
        live = sum(raw.values())
        return {n: raw[n] / live for n in names}
    return shares


def provider_health(
    route: Route, model: str, health: Mapping[RouteId, RouteHealth]
) -> RouteHealth | None:
    """A provider's health for a model: that of its best key (key choice steers to it)."""
    rank = {"healthy": 0, "degraded": 1, "recovering": 2, "failed": 3}
    known = [health.get((route.provider, k.id, model)) for k in route.keys]
    if not known or any(h is None for h in known):
        return None  # a key without evidence counts as healthy
    present = [h for h in known if h is not None]
    return min(present, key=lambda h: (rank[h.state], h.error_rate, h.latency_ms or 0.0))


def adapt_routes(
    routes: list[Route],
    model: str,
    health: Mapping[RouteId, RouteHealth],
    now: float,
    params: WeightParams = PARAMS,
) -> list[Route]:
    """The routes with effective weights in place of configured ones, for route and key."""
    by_name = {r.provider: r for r in routes}
    provider = effective_weights(
        {r.provider: r.weight for r in routes},
        {r.provider: provider_health(r, r.upstream_model(model), health) for r in routes},
        now,
        params,
    )
    adapted = []
    for name, route in by_name.items():
        upstream = route.upstream_model(model)
        keys = effective_weights(
            {k.id: k.weight for k in route.keys},
            {k.id: health.get((route.provider, k.id, upstream)) for k in route.keys},
            now,
            params,
        )
        new_keys = tuple(replace(k, weight=keys.get(k.id, 0.0)) for k in route.keys)
        adapted.append(replace(route, weight=provider[name], keys=new_keys))
    return adapted


class AdaptedMemo:
    """`adapt_routes` at the fold's tick, remembered for the tick (a pure memo: the same
    routes, model and tick give the same answer, so admission pays for it once a second)."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self.tick: tuple[float, int] | None = None  # the tick, and the local cool-downs' version
        self.held: dict[
            tuple[str, tuple[int, ...], WeightParams], tuple[list[Route], list[Route]]
        ] = {}

    def adapted(
        self,
        routes: list[Route],
        model: str,
        fold: RouteHealthFold,
        now: float,
        params: WeightParams = PARAMS,
    ) -> list[Route]:
        """The routes with effective weights, as of the recompute tick of `now` (and of the
        cool-downs this instance applied since)."""
        tick = fold.tick(now)
        at = (tick, fold.cooling.version)
        if at != self.tick or len(self.held) >= self.capacity:
            self.tick, self.held = at, {}
        key = (model, tuple(id(r) for r in routes), params)
        found = self.held.get(key)
        if found is not None and all(a is b for a, b in zip(found[0], routes, strict=True)):
            return found[1]
        adapted = adapt_routes(routes, model, fold.health(tick), tick, params)
        self.held[key] = (list(routes), adapted)
        return adapted


ADAPTED = AdaptedMemo()
