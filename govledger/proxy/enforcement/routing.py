"""Routing choices: the route chain of a request and the upstream key of a route."""

from __future__ import annotations

import random
from collections.abc import Callable

from govledger.projections.policy import ProviderKey, Route
from govledger.projections.route_cooling import RouteCooling


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


def usable_keys(route: Route, model: str) -> list[ProviderKey]:
    """The route's keys that may serve the model and have a secret."""
    return [k for k in route.keys if k.secret and ("*" in k.models or model in k.models)]


def choose_key(
    route: Route,
    model: str,
    rng: random.Random,
    avoid: Callable[[ProviderKey], bool] | None = None,
) -> ProviderKey | None:
    """Weighted choice among the route's usable keys, leaving out those to `avoid` (a local
    cool-down) unless every usable key is to be avoided."""
    usable = usable_keys(route, model)
    if not usable:
        return None
    if avoid is not None:
        usable = [k for k in usable if not avoid(k)] or usable
    return usable[_weighted([(k.weight, i) for i, k in enumerate(usable)], rng)]


def cooled_key(
    route: Route, model: str, cooling: RouteCooling, now: float
) -> Callable[[ProviderKey], bool]:
    """Whether a key of `route` is cooling locally at `now` (for `choose_key`'s `avoid`)."""
    sent = route.upstream_model(model)
    return lambda key: cooling.cooling((route.provider, key.id, sent), now)


def cooled_last(
    chain: tuple[Route, ...], model: str, cooling: RouteCooling, now: float
) -> tuple[Route, ...]:
    """The chain with the routes whose every usable key is cooling locally moved to its end
    (in their order): a request admitted before a 429 still tries them last."""
    if not cooling.until:
        return chain

    def cooled(route: Route) -> bool:
        keys = usable_keys(route, model)
        return bool(keys) and all(map(cooled_key(route, model, cooling, now), keys))

    flags = [cooled(r) for r in chain]
    if not any(flags):
        return chain
    live = [r for r, flag in zip(chain, flags, strict=True) if not flag]
    return (*live, *(r for r, flag in zip(chain, flags, strict=True) if flag))
