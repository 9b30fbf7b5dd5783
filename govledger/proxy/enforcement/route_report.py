"""What adaptive routing shows: each route's state, signals and factor, and a key's shares."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from govledger.ledger.route_params import WeightParams
from govledger.projections.policy import KeyPolicy, Route
from govledger.projections.route_cooling import RouteId
from govledger.projections.route_health import RouteHealth
from govledger.proxy.enforcement.weights import PARAMS, adapt_routes, health_factor


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def route_rows(health: Mapping[RouteId, RouteHealth], now: float) -> list[dict[str, Any]]:
    """One row per route with evidence; `factor` scales its configured weight (latency is
    compared with the fastest route serving the same model)."""
    best: dict[str, float] = {}
    for (_, _, model), h in health.items():
        if h.latency_ms is not None and h.samples >= PARAMS.latency_samples:
            best[model] = min(best.get(model, h.latency_ms), h.latency_ms)
    rows = []
    for (provider, key_id, model), h in sorted(health.items()):
        rows.append(
            {
                "provider": provider,
                "key_id": key_id,
                "model": model,
                "state": h.state,
                "since": h.since,
                "factor": round(health_factor(h, best.get(model), now), 4),
                "error_rate": round(h.error_rate, 4),
                "latency_ms": _ms(h.latency_ms),
                "first_token_ms": _ms(h.first_token_ms),
                "per_token_ms": _ms(h.per_token_ms),
                "plain_ms": _ms(h.plain_ms),
                "samples": round(h.samples, 3),
                "rate_limited": round(h.rate_limited, 3),
                "timeouts": round(h.timeouts, 3),
                "cooling_until": h.cooling_until,
            }
        )
    return rows


def key_shares(
    policy: KeyPolicy, model: str, health: Mapping[RouteId, RouteHealth], now: float
) -> list[dict[str, Any]]:
    """A key's routes serving `model`: configured and effective shares, per provider and key."""
    routes = [r for r in policy.routes if r.allows(model)]
    adaptive = policy.routing == "adaptive"
    total = sum(r.weight for r in routes) or 1.0
    adapted = adapt_routes(routes, model, health, now) if adaptive else routes
    rows = []
    for route, effective in zip(routes, adapted, strict=True):
        key_total = sum(k.weight for k in route.keys) or 1.0
        keys = [
            {"id": k.id, "configured": k.weight / key_total, "effective": e.weight}
            for k, e in zip(route.keys, effective.keys, strict=True)
        ]
        if not adaptive:
            keys = [{**k, "effective": k["configured"]} for k in keys]
        rows.append(
            {
                "provider": route.provider,
                "configured": route.weight / total,
                "effective": effective.weight
                if policy.routing == "adaptive"
                else route.weight / total,
                "keys": keys,
            }
        )
    return rows


@dataclass(frozen=True)
class RoutingGroup:
    """Adaptive keys with the same routes, weights and weight parameters: they share their
    effective weights, so they are shown once (named by their first key id)."""

    name: str
    members: tuple[str, ...]
    routes: tuple[Route, ...]
    weights: WeightParams


def _signature(policy: KeyPolicy) -> tuple[Any, ...]:
    routes = tuple(
        (r.provider, r.weight, r.allowed_models, r.model_map, tuple((k.id, k.weight, k.models)
         for k in r.keys))
        for r in policy.routes
    )  # fmt: skip
    return routes, policy.weights


def routing_groups(policies: Iterable[KeyPolicy | None]) -> list[RoutingGroup]:
    """The adaptive keys' routing groups, by name."""
    held: dict[tuple[Any, ...], list[KeyPolicy]] = {}
    for policy in policies:
        if (
            policy is not None
            and policy.is_active
            and policy.routing == "adaptive"
            and policy.routes
        ):
            held.setdefault(_signature(policy), []).append(policy)
    groups = []
    for members in held.values():
        ids = tuple(sorted(p.key_id for p in members))
        first = members[0]
        groups.append(RoutingGroup(ids[0], ids, first.routes, first.weights))
    return sorted(groups, key=lambda g: g.name)


def group_rows(
    groups: Iterable[RoutingGroup], health: Mapping[RouteId, RouteHealth], now: float
) -> list[dict[str, Any]]:
    """Per routing group, model with evidence and (provider, key): the route's state and its
    effective weight (the chance that a request's first attempt goes there)."""
    rows = []
    for group in groups:
        providers = {r.provider for r in group.routes}
        models = sorted({m for (p, _, m) in health if p in providers})
        for model in models:
            routes = [r for r in group.routes if r.allows(model)]
            if not routes:
                continue
            adapted = adapt_routes(routes, model, health, now, group.weights)
            for route in adapted:
                sent = route.upstream_model(model)
                for key in route.keys:
                    held = health.get((route.provider, key.id, sent))
                    rows.append(
                        {
                            "group": group.name,
                            "members": len(group.members),
                            "provider": route.provider,
                            "key_id": key.id,
                            "model": model,
                            "state": "healthy" if held is None else held.state,
                            "effective": round(route.weight * key.weight, 6),
                        }
                    )
    return rows
