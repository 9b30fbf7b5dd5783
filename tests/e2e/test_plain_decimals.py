"""Money is written in plain notation everywhere a client reads it: the cost header, the
stream's cost comment, the management API's JSON, JSON lines and CSV, on both stores.

A price of 0.04 USD per million input tokens makes a one-token call cost 4E-8 as Python's
Decimal writes it; every surface must say `0.00000004`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

from tests.conftest import RunningGateway
from tests.e2e.management.support import ADMIN, Api, eventually
from tests.e2e.openai_support import KEY, client, hi, provider, raw_request, virtual_key

EXPONENT = re.compile(r"\dE[-+]?\d")  # Decimal's exponent; ids are lower-case hex
TINY = "0.00000004"


def config() -> dict[str, Any]:
    """One key whose calls cost 4E-8 each (1 input token at 0.04 per million, output free)."""
    budget = {"max_limit": "0.0010000", "reset_duration": "1d"}
    return {
        "providers": [provider()],
        "pricing_overrides": [
            {
                "provider": "openai",
                "model": "tiny",
                "input_per_mtok": "0.04",
                "output_per_mtok": "0",
            }
        ],
        "virtual_keys": [virtual_key(budgets=[budget])],
    }


def test_tiny_costs_are_plain_in_headers_streams_json_jsonl_and_csv(
    store_url: str, gateway_factory: Callable[..., RunningGateway]
) -> None:
    # store_url first: its database is dropped after the gateway using it has stopped
    gateway = gateway_factory(config(), store_url, admin_token=ADMIN)
    with client(gateway) as sdk:
        raw = sdk.chat.completions.with_raw_response.create(model="tiny", messages=hi())
        assert raw.headers["x-govledger-cost-usd"] == TINY
    body = orjson.dumps({"model": "tiny", "messages": hi(), "stream": True})
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    streamed = raw_request(gateway, "/v1/chat/completions", body, headers)
    assert f": govledger-cost-usd {TINY}\n".encode() in streamed.body

    api = Api(gateway.url)
    logged = eventually(
        lambda: rows if len(rows := api.get("/api/audit/requests").json["data"]) == 2 else None
    )
    assert [row["cost"] for row in logged] == [TINY, TINY]
    usage = api.get("/api/governance/virtual-keys/k1/usage").json["budgets"][0]
    assert (usage["limit"], usage["settled"], usage["reserved"]) == ("0.001", "0.00000008", "0")
    spend = "/api/reports/spend?group_by=virtual_key&granularity=day"
    texts = {
        "requests.csv": api.get("/api/audit/requests?format=csv").text,
        "requests.jsonl": api.get("/api/audit/requests?format=jsonl").text,
        "spend.json": api.get(f"{spend}").text,
        "spend.csv": api.get(f"{spend}&format=csv").text,
        "compliance.csv": api.get("/api/reports/compliance?format=csv").text,
        "budgets.json": api.get("/api/governance/budgets").text,
        "usage.json": api.get("/api/governance/virtual-keys/k1/usage").text,
    }
    for name, text in texts.items():
        assert not EXPONENT.search(text), (name, text)
    assert TINY in texts["requests.csv"] and "0.00000008" in texts["spend.csv"]
    assert "0.00000008" in texts["compliance.csv"]
