"""Routing choices: the route chain of a request and the upstream key of a route."""

from __future__ import annotations

import random

from govledger.projections.policy import ProviderKey, Route


def _weighted(items: list[tuple[float, int]], rng: random.Random) -> int:
    total = sum(weight for weight, _ in items)
    if total <= 0:
        return items[0][1]
    pick = rng.random() * total
    for weight, index in items:
        pick -= weight
        if pick < 0:
            return index
    return items[-1][1]


def choose_chain(routes: list[Route], rng: random.Random) -> tuple[Route, ...]:
    """Weighted random primary (weights normalised), then the rest by weight, highest first."""
    primary = routes[_weighted([(r.weight, i) for i, r in enumerate(routes)], rng)]
    rest = sorted((r for r in routes if r is not primary), key=lambda r: -r.weight)
    return (primary, *rest)


def choose_key(route: Route, model: str, rng: random.Random) -> ProviderKey | None:
    """Weighted choice among the route's keys that may serve the model and have a secret."""
    usable = [k for k in route.keys if k.secret and ("*" in k.models or model in k.models)]
    if not usable:
        return None
    return usable[_weighted([(k.weight, i) for i, k in enumerate(usable)], rng)]
