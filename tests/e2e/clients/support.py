"""One gateway for the drop-in client tests: a key per provider type, a key with a spent
budget, and keys whose first route is down so a route of another vendor answers.

Token figures follow the fake upstream (`govledger.proxy.fake_upstream`); `ledger_matches`
checks a client's reported usage against the newest `RequestSettled` of the ledger.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from govledger.ledger import events as ev
from tests.conftest import RunningGateway, start_gateway
from tests.e2e.openai_support import flush_ledger, of_type, virtual_key
from tests.e2e.vendor_support import cost, priced_config, vendor

KEYS = {
    "openai": "sk-bf-e2e-dropin-openai-0001",
    "anthropic": "sk-bf-e2e-dropin-anthropic-1",
    "gemini": "sk-bf-e2e-dropin-gemini-0001",
}
POOR = "sk-bf-e2e-dropin-poor-000001"
# First route refuses connections (nothing listens on port 1); the second is another vendor.
FALLBACK = {
    "openai": "sk-bf-e2e-dropin-fb-openai-1",  # openai down, then anthropic
    "anthropic": "sk-bf-e2e-dropin-fb-anthro-1",  # anthropic down, then openai
    "gemini": "sk-bf-e2e-dropin-fb-gemini-1",  # gemini down, then openai
}
SERVED_BY = {"openai": "anthropic", "anthropic": "openai", "gemini": "openai"}
DOWN = "http://127.0.0.1:1"
MODEL = "m1"
KNOWN_MODEL = "gpt-4o-mini"


def config() -> dict[str, Any]:
    """Providers of the three types on the fake upstream, one of each type down."""
    providers = [vendor(kind, kind) for kind in KEYS]
    providers += [
        vendor(f"down-{kind}", kind, DOWN + ("/v1" if kind == "openai" else "")) for kind in KEYS
    ]
    keys = [virtual_key(kind, value, providers=(kind,)) for kind, value in KEYS.items()]
    keys.append(
        virtual_key(
            "poor",
            POOR,
            providers=tuple(KEYS),
            budgets=[{"max_limit": "0.000001", "reset_duration": "1d"}],
        )
    )
    for kind, value in FALLBACK.items():
        routes = [
            {"provider": f"down-{kind}", "weight": 1},
            {"provider": SERVED_BY[kind], "weight": 0},
        ]
        keys.append(virtual_key(f"fb-{kind}", value, providers=(), provider_configs=routes))
    config = priced_config(keys, providers)
    # A model name clients know (llama-index checks it), priced like the test models.
    config["pricing_overrides"] += [
        {**price, "model": KNOWN_MODEL}
        for price in config["pricing_overrides"]
        if price["model"] == MODEL
    ]
    return config


def running_gateway(tmp: Path) -> Iterator[RunningGateway]:
    """Start the gateway for a module; stop it after."""
    gateway = start_gateway(f"sqlite:///{tmp}/ledger.sqlite", config(), tmp)
    yield gateway
    gateway.stop()


def newest_settled(gateway: RunningGateway) -> ev.RequestSettled:
    """The newest settled request of the ledger (committed before the client saw its end)."""
    flush_ledger(gateway)
    return of_type(gateway, ev.RequestSettled)[-1]


def settled_count(gateway: RunningGateway) -> int:
    """How many requests the ledger has settled."""
    flush_ledger(gateway)
    return len(of_type(gateway, ev.RequestSettled))


def ledger_matches(
    gateway: RunningGateway, input_tokens: int, output_tokens: int
) -> ev.RequestSettled:
    """Assert the newest settlement recorded these tokens at their exact cost; return it."""
    settled = newest_settled(gateway)
    recorded = (settled.tokens["input"], settled.tokens["output"], settled.cost)
    assert recorded == (input_tokens, output_tokens, cost(input_tokens, output_tokens)), recorded
    assert settled.status == "ok", settled
    return settled


def served_by_fallback(gateway: RunningGateway, surface: str) -> ev.RequestSettled:
    """Assert the newest settlement was answered by the other vendor after the first failed."""
    settled = newest_settled(gateway)
    providers = [a["provider"] for a in settled.attempts]
    assert providers == [f"down-{surface}", SERVED_BY[surface]], settled.attempts
    assert settled.provider == SERVED_BY[surface]
    return settled


def price(input_tokens: int, output_tokens: int) -> Decimal:
    """The exact cost of a call (re-exported for the client modules)."""
    return cost(input_tokens, output_tokens)
