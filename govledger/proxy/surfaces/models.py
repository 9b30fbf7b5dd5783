"""The models a virtual key may use, shared by every surface's model listing.

`offered` (pure) names each (provider, model) a key's routes allow: the names its provider
configs, provider keys and `model_map` give, and for `*` the price catalogue of the route's
provider type (overrides, then genai-prices). `usable` (pure) says whether one model, bare
or `provider/model`, may be called. `authorize` reads the key the way inference does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from govledger.projections.policy import KeyPolicy
from govledger.proxy.enforcement.cost import PriceUnknownError
from govledger.proxy.flow.gateway import Call, Gateway

Catalogue = Callable[[str], Iterable[str]]  # provider type -> the model names priced for it
Priced = Callable[[str, str], bool]  # (provider type, model) -> a price is known


@dataclass(frozen=True)
class Offered:
    """A model a key may call, and the provider (config name) that serves it."""

    model: str
    provider: str
    provider_type: str

    @property
    def pinned(self) -> str:
        """The `provider/model` name that calls this provider only."""
        return f"{self.provider}/{self.model}"


def offered(policy: KeyPolicy, catalogue: Catalogue) -> list[Offered]:
    """Every model each route of the key allows, routes in the key's order, names sorted."""
    found: dict[str, Offered] = {}
    for route in policy.routes:
        named = set(route.allowed_models) | {m for key in route.keys for m in key.models}
        named |= {requested for requested, _ in route.model_map}
        if "*" in named:
            named |= set(catalogue(route.provider_type))
        for model in sorted(named - {"*"}):
            if route.allows(model):  # named by the route or a key: usable only if both allow
                item = Offered(model, route.provider, route.provider_type)
                found.setdefault(item.pinned, item)
    return list(found.values())


def usable(policy: KeyPolicy, name: str, pinned: str | None, priced: Priced) -> Offered | None:
    """The first route that may serve `name` (its provider given by `pinned`, if any) at a
    known price, or None."""
    for route in policy.routes:
        if pinned is not None and route.provider != pinned:
            continue
        if route.allows(name) and priced(route.provider_type, route.upstream_model(name)):
            return Offered(name, route.provider, route.provider_type)
    return None


def authorize(gateway: Gateway, headers: Mapping[str, str], request_id: str) -> KeyPolicy:
    """The caller's policy; GatewayError 400/401/403 as on inference (required headers, key
    missing or unknown, disabled or expired)."""
    return gateway.authorize(Call("models", "", {}, False, headers, request_id=request_id))


def price_known(gateway: Gateway) -> Priced:
    """Whether the gateway's price book resolves a model (an allowed zero price counts)."""
    prices = gateway.governance.prices
    now = gateway.clock.now()

    def known(provider_type: str, model: str) -> bool:
        try:
            prices.price(provider_type, model, now)
        except PriceUnknownError:
            return False
        return True

    return known
