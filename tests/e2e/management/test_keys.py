"""Virtual keys in use: rotation with a grace period, usage figures equal to the ledger, the
self-service quota, and the budgets and rate-limits lists."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import openai

from govledger.ledger import events as ev
from tests.clocks import ShiftedClock
from tests.conftest import RunningGateway
from tests.e2e.management.support import Api

KEYS = "/api/governance/virtual-keys"


def new_key(api: Api, key_id: str, **fields: Any) -> str:
    """Create a key routed to the fake upstream and return its value."""
    body = {"id": key_id, "name": key_id, "provider_configs": [{"provider": "mock"}], **fields}
    created = api.post(KEYS, body)
    assert created.status == 201, created.text
    return created.json["value"]  # type: ignore[no-any-return]


def authenticates(gateway: RunningGateway, value: str) -> int:
    """The status of an authenticated call that reaches no upstream (GET /v1/models)."""
    return Api(gateway.url, value).get("/v1/models").status


def chat(gateway: RunningGateway, value: str) -> None:
    """One priced chat call through the OpenAI SDK."""
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=value, max_retries=0)
    client.chat.completions.create(
        model="m1", messages=[{"role": "user", "content": "hi"}], max_tokens=10
    )


def test_a_rotation_returns_a_new_value_and_refuses_the_old_one_at_once(
    api: Api, gateway: RunningGateway
) -> None:
    old = new_key(api, "k-rotate-now")

    rotated = api.post(f"{KEYS}/k-rotate-now/rotate", {"grace_seconds": 0})

    new = rotated.json["value"]
    assert rotated.status == 200 and new != old and rotated.json["version"] == 2
    assert authenticates(gateway, new) == 200
    assert authenticates(gateway, old) == 401


def test_the_old_value_works_through_the_grace_period_and_not_after(
    api: Api, gateway: RunningGateway
) -> None:
    old = new_key(api, "k-rotate-grace")

    clock = gateway.runtime.clock
    assert isinstance(clock, ShiftedClock)  # the process clock, moved instead of slept on

    rotated = api.post(f"{KEYS}/k-rotate-grace/rotate", {"grace_seconds": 60})

    assert authenticates(gateway, rotated.json["value"]) == 200
    assert authenticates(gateway, old) == 200
    assert [r["value_prefix"] for r in rotated.json["retired"]] == [old[:10] + "…"]
    clock.advance(59)
    assert authenticates(gateway, old) == 200
    clock.advance(1.001)
    assert authenticates(gateway, old) == 401
    assert authenticates(gateway, rotated.json["value"]) == 200


def test_a_rotation_is_recorded_without_any_secret(api: Api, gateway: RunningGateway) -> None:
    old = new_key(api, "k-rotate-event")
    new = api.post(f"{KEYS}/k-rotate-event/rotate", {"grace_seconds": 60}).json["value"]

    rotations = [
        event
        for _, event in gateway.runtime.store.iterate("governance")
        if isinstance(event, ev.VirtualKeyRotated) and event.entity_id == "k-rotate-event"
    ]

    assert len(rotations) == 1 and rotations[0].actor == "token:bootstrap"
    assert old not in str(rotations[0]) and new not in str(rotations[0])


def test_a_grace_period_is_bounded_and_a_missing_key_cannot_rotate(api: Api) -> None:
    new_key(api, "k-rotate-bounds")

    too_long = api.post(f"{KEYS}/k-rotate-bounds/rotate", {"grace_seconds": 10**9})

    assert too_long.status == 422 and too_long.error["problems"][0]["field"] == "grace_seconds"
    assert api.post(f"{KEYS}/k-ghost/rotate").status == 404


def test_usage_figures_equal_the_ledger_after_traffic(api: Api, gateway: RunningGateway) -> None:
    api.post(
        "/api/governance/teams",
        {"id": "t-usage", "name": "Usage", "budgets": [{"max_limit": "3", "reset_duration": "1M"}]},
    )
    value = new_key(
        api,
        "k-usage",
        team_id="t-usage",
        budgets=[{"max_limit": "1", "reset_duration": "1d", "calendar_aligned": True}],
        rate_limit={"request_max_limit": 10, "request_reset_duration": "1m"},
    )
    for _ in range(3):
        chat(gateway, value)

    figures = api.get(f"{KEYS}/k-usage/usage").json
    spent = sum(
        (
            event.cost
            for _, event in gateway.runtime.store.iterate("usage")
            if isinstance(event, ev.RequestSettled)
            and event.charges
            and event.charges[0]["budget"].startswith("virtual_key:k-usage#")
        ),
        Decimal(0),
    )

    budgets = {b["level"]: b for b in figures["budgets"]}
    assert set(budgets) == {"virtual_key", "team"}
    key_budget = budgets["virtual_key"]
    assert spent > 0
    assert Decimal(key_budget["settled"]) == spent and Decimal(key_budget["reserved"]) == 0
    assert Decimal(key_budget["remaining"]) == Decimal(1) - spent
    assert Decimal(budgets["team"]["settled"]) == spent
    assert key_budget["period_start"].endswith("T00:00:00+00:00")
    [rate] = figures["rate_limits"]
    assert (rate["limit"], rate["settled"], rate["remaining"]) == (10, 3, 7)


def test_the_quota_endpoint_takes_the_virtual_key_as_its_credential(
    api: Api, gateway: RunningGateway
) -> None:
    value = new_key(api, "k-quota", budgets=[{"max_limit": "2", "reset_duration": "1d"}])

    own = Api(gateway.url, value).get(f"{KEYS}/quota")
    with_admin = api.get(f"{KEYS}/quota")
    anonymous = Api(gateway.url, None).get(f"{KEYS}/quota")

    assert own.status == 200 and own.json["virtual_key_id"] == "k-quota"
    assert [b["limit"] for b in own.json["budgets"]] == ["2"]
    assert with_admin.status == 401 and anonymous.status == 401


def test_budgets_and_rate_limits_list_every_level_with_figures(api: Api) -> None:
    api.post(
        "/api/governance/customers",
        {"id": "c-levels", "name": "L", "budgets": [{"max_limit": "9", "reset_duration": "1M"}]},
    )
    new_key(
        api,
        "k-levels",
        customer_id="c-levels",
        provider_configs=[
            {
                "provider": "mock",
                "budgets": [{"max_limit": "1", "reset_duration": "1h"}],
                "rate_limit": {"token_max_limit": 1000, "token_reset_duration": "1h"},
            }
        ],
    )

    budgets = api.get("/api/governance/budgets?search=levels&limit=1000").json["data"]
    customers = api.get("/api/governance/budgets?level=customer&search=c-levels").json["data"]
    rates = api.get("/api/governance/rate-limits?search=k-levels").json["data"]

    assert {b["id"] for b in budgets} == {
        "customer:c-levels#1M",
        "virtual_key:k-levels/provider:mock#1h",
    }
    assert [b["remaining"] for b in customers] == ["9"]
    assert [(r["kind"], r["limit"], r["remaining"]) for r in rates] == [("tokens", 1000, 1000)]
