"""Helpers of the Anthropic, Gemini, cross-provider and MCP end-to-end tests.

The built-in fake upstream serves every vendor: an `anthropic` or `gemini` provider's
base URL is `{MOCK}` (the gateway appends `/v1/messages` or `/v1beta/models/...`), an
`openai` one `{MOCK}/v1`. Test models are priced for every provider type.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import anthropic
import uvicorn
from google import genai
from google.genai import types as genai_types

from tests.conftest import RunningGateway, free_port
from tests.e2e.openai_support import INPUT_PRICE, OUTPUT_PRICE, PRICED_MODELS, virtual_key

ANTHROPIC_KEY = "sk-bf-e2e-anthropic-key-01"
GEMINI_KEY = "sk-bf-e2e-gemini-key-00001"
PROVIDER_TYPES = ("openai", "anthropic", "gemini")


def vendor(name: str, kind: str, base_url: str | None = None) -> dict[str, Any]:
    """A provider of a type, on the fake upstream unless `base_url` is given."""
    default = "{MOCK}/v1" if kind == "openai" else "{MOCK}"
    return {
        "name": name,
        "type": kind,
        "base_url": base_url or default,
        "keys": [{"id": f"{name}-key", "value": f"sk-upstream-{name}"}],
    }


def priced_config(
    keys: list[dict[str, Any]], providers: list[dict[str, Any]], **fields: Any
) -> dict[str, Any]:
    """A config whose test models are priced the same for every provider type."""
    prices = [
        {
            "provider": kind,
            "model": model,
            "input_per_mtok": str(INPUT_PRICE),
            "output_per_mtok": str(OUTPUT_PRICE),
        }
        for kind in PROVIDER_TYPES
        for model in (*PRICED_MODELS, "m1-mapped")
    ]
    return {"providers": providers, "virtual_keys": keys, "pricing_overrides": prices, **fields}


def one_vendor(kind: str, key: str, **key_fields: Any) -> dict[str, Any]:
    """One provider of a type and one key routed to it."""
    return priced_config(
        [virtual_key("k1", key, providers=(kind,), **key_fields)], [vendor(kind, kind)]
    )


def anthropic_client(gateway: RunningGateway, **options: Any) -> anthropic.Anthropic:
    """An Anthropic SDK client on the gateway (`api_key=` unless other auth is given)."""
    options.setdefault("max_retries", 0)
    if "auth_token" not in options and "default_headers" not in options:
        options.setdefault("api_key", ANTHROPIC_KEY)
    return anthropic.Anthropic(base_url=gateway.url + "/anthropic", **options)


def gemini_client(
    gateway: RunningGateway, version: str, key: str = GEMINI_KEY, **headers: str
) -> genai.Client:
    """A google-genai client on the gateway at an API version."""
    options = genai_types.HttpOptions(
        base_url=gateway.url + "/genai", api_version=version, headers=headers or None
    )
    return genai.Client(api_key=key, http_options=options)


def cost(input_tokens: int, output_tokens: int) -> Decimal:
    """The cost of a call to a priced test model, whatever the provider type."""
    return (input_tokens * INPUT_PRICE + output_tokens * OUTPUT_PRICE) / Decimal(1_000_000)


@contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the ASGI app did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
