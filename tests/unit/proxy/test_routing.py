"""Routing: a weighted primary, fallbacks by weight, and the upstream key of a route."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from govledger.ledger.config import parse_config
from govledger.ledger.credentials import SecretBox
from govledger.ledger.entities import GovernanceState
from govledger.ledger.plan import make_plan
from govledger.projections.policy import ProviderKey, Route, compile_policy
from govledger.proxy.enforcement.routing import choose_chain, choose_key

DRAWS = 20_000
NOW = datetime(2025, 6, 10, tzinfo=UTC)


def route(provider: str, weight: float, keys: Sequence[ProviderKey] = ()) -> Route:
    """A route with the given keys (one usable key by default)."""
    return Route(
        provider=provider,
        provider_type="openai",
        base_url="https://example.test/v1",
        weight=weight,
        allowed_models=("*",),
        keys=tuple(keys) or (ProviderKey(f"{provider}-key", 1.0, ("*",), "secret"),),
        budgets=(),
        rates=(),
    )


def key(
    key_id: str, weight: float = 1.0, models: Sequence[str] = ("*",), secret: str | None = "s"
) -> ProviderKey:
    """A provider key."""
    return ProviderKey(key_id, weight, tuple(models), secret)


def primaries(routes: list[Route], seed: int, draws: int = DRAWS) -> Counter[str]:
    """How often each route is chosen first over many draws from a seeded RNG."""
    rng = random.Random(seed)
    return Counter(choose_chain(routes, rng)[0].provider for _ in range(draws))


def test_the_chain_is_the_primary_then_the_rest_by_weight_highest_first() -> None:
    routes = [route("a", 1), route("b", 5), route("c", 3), route("d", 3)]

    for seed in range(50):
        chain = choose_chain(routes, random.Random(seed))
        rest = [r.provider for r in chain[1:]]
        assert len(chain) == 4
        assert sorted(r.provider for r in chain) == ["a", "b", "c", "d"]
        assert rest == [p for p in ["b", "c", "d", "a"] if p != chain[0].provider]


def test_a_single_route_is_the_whole_chain() -> None:
    only = route("only", 0.5)
    assert choose_chain([only], random.Random(1)) == (only,)


def test_weights_are_normalised_so_scaling_them_changes_no_choice() -> None:
    small = [route("a", 0.25), route("b", 0.75)]
    large = [route("a", 256), route("b", 768)]

    for seed in range(200):
        first = choose_chain(small, random.Random(seed))
        second = choose_chain(large, random.Random(seed))
        assert [r.provider for r in first] == [r.provider for r in second]


def test_the_primary_is_drawn_in_proportion_to_the_weights() -> None:
    routes = [route("a", 1), route("b", 3), route("c", 6)]

    counts = primaries(routes, seed=20250610)

    # Each share is within 4 standard deviations of its expectation (sd <= 0.0036 here).
    for provider, share in {"a": 0.1, "b": 0.3, "c": 0.6}.items():
        assert abs(counts[provider] / DRAWS - share) < 0.015


def test_a_route_of_weight_zero_is_never_primary_but_stays_a_fallback() -> None:
    routes = [route("zero", 0), route("one", 1)]

    counts = primaries(routes, seed=3, draws=2000)

    assert counts == Counter({"one": 2000})
    assert [r.provider for r in choose_chain(routes, random.Random(3))] == ["one", "zero"]


def test_when_every_weight_is_zero_the_first_route_leads() -> None:
    routes = [route("a", 0), route("b", 0)]
    assert [r.provider for r in choose_chain(routes, random.Random(9))] == ["a", "b"]


def test_choose_key_draws_keys_in_proportion_to_their_weights() -> None:
    choice = route("p", 1, [key("light", 1), key("heavy", 4)])
    rng = random.Random(42)

    counts = Counter(getattr(choose_key(choice, "gpt-4o", rng), "id", None) for _ in range(DRAWS))

    assert abs(counts["heavy"] / DRAWS - 0.8) < 0.015
    assert counts["light"] + counts["heavy"] == DRAWS


def test_choose_key_skips_keys_that_cannot_serve_the_model() -> None:
    choice = route("p", 1, [key("mini-only", 100, models=["gpt-4o-mini"]), key("any", 1)])
    rng = random.Random(5)

    picked = {getattr(choose_key(choice, "gpt-4o", rng), "id", None) for _ in range(200)}

    assert picked == {"any"}


def test_choose_key_skips_keys_without_a_resolved_secret() -> None:
    choice = route(
        "p", 1, [key("unresolved", 100, secret=None), key("empty", 100, secret=""), key("ok", 1)]
    )
    rng = random.Random(5)

    picked = {getattr(choose_key(choice, "gpt-4o", rng), "id", None) for _ in range(200)}

    assert picked == {"ok"}


@pytest.mark.parametrize(
    "keys",
    [
        [key("a", secret=None)],
        [key("b", models=["claude-sonnet-4-6"])],
    ],
)
def test_choose_key_returns_none_when_no_key_is_usable(keys: list[ProviderKey]) -> None:
    assert choose_key(route("p", 1, keys), "gpt-4o", random.Random(0)) is None


def test_choose_key_is_repeatable_with_the_same_seed() -> None:
    choice = route("p", 1, [key("a", 1), key("b", 2), key("c", 3)])

    def picks(seed: int) -> list[str | None]:
        rng = random.Random(seed)
        return [getattr(choose_key(choice, "m", rng), "id", None) for _ in range(50)]

    assert picks(11) == picks(11)
    assert set(picks(11)) == {"a", "b", "c"}


def test_choose_key_uses_only_the_key_ids_a_provider_config_names() -> None:
    raw = {
        "providers": [
            {
                "name": "openai",
                "type": "openai",
                "base_url": "https://api.openai.com/v1",
                "keys": [
                    {"id": "a", "value": "sk-a-literal", "weight": 50},
                    {"id": "b", "value": "sk-b-literal"},
                    {"id": "c", "value": "sk-c-literal", "weight": 50},
                ],
            }
        ],
        "virtual_keys": [
            {
                "id": "ci",
                "name": "CI",
                "provider_configs": [{"provider": "openai", "key_ids": ["b", "c"]}],
            }
        ],
    }
    state = GovernanceState()
    box = SecretBox(bytes(32))
    plan = make_plan(parse_config(raw), state, box, NOW, lambda: "sk-bf-generated-0123456789")
    for event in plan.events(state, "alice", "cli", NOW):
        state.apply(event)
    policy = compile_policy(state, "ci", box)
    assert policy is not None
    rng = random.Random(8)

    picked = Counter(
        getattr(choose_key(policy.routes[0], "gpt-4o", rng), "id", None) for _ in range(500)
    )

    assert set(picked) == {"b", "c"}
    assert picked["c"] > picked["b"]
