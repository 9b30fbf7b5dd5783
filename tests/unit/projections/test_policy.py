"""compile_policy: each key's budgets and limits at every level, with stable ids."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from govledger.ledger.charges import BudgetId, LimitId
from govledger.ledger.config import parse_config
from govledger.ledger.credentials import SecretBox
from govledger.ledger.entities import GovernanceState
from govledger.ledger.periods import parse_duration
from govledger.ledger.plan import make_plan
from govledger.projections.policy import BudgetRule, RateRule, SharedParts, compile_policy

BOX = SecretBox(bytes(range(32)))
T0 = datetime(2025, 2, 3, 4, 5, 6, tzinfo=UTC)
FILE: dict[str, Any] = {
    "providers": [
        {
            "name": "openai",
            "type": "openai",
            "base_url": "https://api.openai.com/v1/",
            "keys": [
                {"id": "literal", "value": "sk-proj-literal-000", "models": ["gpt-4o"]},
                {"id": "referenced", "value": "env.POLICY_TEST_KEY", "weight": 3},
            ],
        },
        {
            "name": "claude",
            "type": "anthropic",
            "base_url": "https://api.anthropic.com",
            "keys": [{"id": "only", "value": "sk-ant-000"}],
        },
    ],
    "customers": [
        {
            "id": "acme",
            "name": "Acme",
            "budgets": [{"max_limit": "100", "reset_duration": "1M", "calendar_aligned": True}],
        }
    ],
    "teams": [
        {
            "id": "platform",
            "name": "Platform",
            "customer_id": "acme",
            "budgets": [{"max_limit": "25", "reset_duration": "1w", "mode": "optimistic"}],
        }
    ],
    "virtual_keys": [
        {
            "id": "ci",
            "name": "CI",
            "team_id": "platform",
            "expires_at": "2030-01-01T00:00:00Z",
            "budgets": [
                {"max_limit": "5", "reset_duration": "1d"},
                {"max_limit": "1", "reset_duration": "1h"},
            ],
            "rate_limit": {
                "request_max_limit": 60,
                "request_reset_duration": "1m",
                "token_max_limit": 100000,
                "token_reset_duration": "1h",
            },
            "provider_configs": [
                {
                    "provider": "openai",
                    "weight": 2,
                    "allowed_models": ["gpt-4o", "gpt-4o-mini"],
                    "budgets": [{"max_limit": "2", "reset_duration": "1d"}],
                    "rate_limit": {"request_max_limit": 10, "request_reset_duration": "1m"},
                },
                {"provider": "claude", "key_ids": ["only"]},
            ],
            "mcp_configs": [{"mcp_client_name": "files", "tools_to_execute": ["*"]}],
        },
        {"id": "direct", "name": "Direct", "customer_id": "acme", "is_active": False},
        {"id": "alone", "name": "Alone"},
    ],
}


def state_of(raw: dict[str, Any]) -> GovernanceState:
    """The governance state a config file produces."""
    state = GovernanceState()
    plan = make_plan(parse_config(raw), state, BOX, T0, lambda: "sk-bf-generated-0123456789")
    for event in plan.events(state, "alice", "cli", T0):
        state.apply(event)
    return state


@pytest.fixture
def state(monkeypatch: pytest.MonkeyPatch) -> GovernanceState:
    """The state of FILE, with the referenced provider key set in the environment."""
    monkeypatch.setenv("POLICY_TEST_KEY", "sk-from-env")
    return state_of(FILE)


def test_an_unknown_key_has_no_policy(state: GovernanceState) -> None:
    assert compile_policy(state, "nobody", BOX) is None


def test_budgets_are_compiled_at_every_level_with_scoped_ids(state: GovernanceState) -> None:
    policy = compile_policy(state, "ci", BOX)

    assert policy is not None
    assert [(b.id, b.level, b.owner, b.limit, b.mode) for b in policy.budgets] == [
        ("virtual_key:ci#1d", "virtual_key", "ci", Decimal("5"), "strict"),
        ("virtual_key:ci#1h", "virtual_key", "ci", Decimal("1"), "strict"),
        ("team:platform#1w", "team", "platform", Decimal("25"), "optimistic"),
        ("customer:acme#1M", "customer", "acme", Decimal("100"), "strict"),
    ]
    [route_budget] = policy.routes[0].budgets
    assert route_budget == BudgetRule(
        id=BudgetId("virtual_key:ci/provider:openai#1d"),
        level="provider_config",
        owner="openai",
        limit=Decimal("2"),
        schedule=route_budget.schedule,
        mode="strict",
    )


def test_budget_schedules_keep_duration_alignment_and_anchor(state: GovernanceState) -> None:
    policy = compile_policy(state, "ci", BOX)

    assert policy is not None
    schedules = {str(b.id): b.schedule for b in policy.budgets}
    assert schedules["customer:acme#1M"].duration == parse_duration("1M")
    assert schedules["customer:acme#1M"].calendar_aligned is True
    assert schedules["virtual_key:ci#1d"].calendar_aligned is False
    assert {s.anchor for s in schedules.values()} == {T0}


def test_rate_limits_are_compiled_per_kind_with_their_windows(state: GovernanceState) -> None:
    policy = compile_policy(state, "ci", BOX)

    assert policy is not None
    assert policy.rates == (
        RateRule(LimitId("virtual_key:ci#requests"), "virtual_key", "requests", 60, 60.0),
        RateRule(LimitId("virtual_key:ci#tokens"), "virtual_key", "tokens", 100000, 3600.0),
    )
    assert policy.routes[0].rates == (
        RateRule(
            LimitId("virtual_key:ci/provider:openai#requests"),
            "provider_config",
            "requests",
            10,
            60.0,
        ),
    )
    assert policy.routes[1].rates == ()


def test_routes_carry_the_provider_and_the_chosen_keys(state: GovernanceState) -> None:
    policy = compile_policy(state, "ci", BOX)

    assert policy is not None
    openai, claude = policy.routes
    assert (openai.provider, openai.provider_type, openai.base_url, openai.weight) == (
        "openai",
        "openai",
        "https://api.openai.com/v1",
        2.0,
    )
    assert [(k.id, k.weight, k.models, k.secret) for k in openai.keys] == [
        ("literal", 1.0, ("gpt-4o",), "sk-proj-literal-000"),
        ("referenced", 3.0, ("*",), "sk-from-env"),
    ]
    assert [k.id for k in claude.keys] == ["only"]
    assert openai.allows("gpt-4o-mini")
    assert not openai.allows("o3")
    assert claude.allows("claude-sonnet-4-6")


def test_a_route_limited_to_some_key_ids_gets_only_those_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POLICY_TEST_KEY", "sk-from-env")
    raw = copy.deepcopy(FILE)
    raw["virtual_keys"][0]["provider_configs"][0]["key_ids"] = ["referenced"]

    policy = compile_policy(state_of(raw), "ci", BOX)

    assert policy is not None
    assert [k.id for k in policy.routes[0].keys] == ["referenced"]


def test_a_provider_key_whose_secret_cannot_be_resolved_has_none(
    state: GovernanceState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POLICY_TEST_KEY")

    policy = compile_policy(state, "ci", BOX)
    other = compile_policy(state, "ci", SecretBox(bytes(32)))

    assert policy is not None and other is not None
    assert [k.secret for k in policy.routes[0].keys] == ["sk-proj-literal-000", None]
    assert [k.secret for k in other.routes[0].keys] == [None, None]


def test_a_key_of_a_team_inherits_the_teams_customer(state: GovernanceState) -> None:
    policy = compile_policy(state, "ci", BOX)

    assert policy is not None
    assert (policy.team_id, policy.customer_id) == ("platform", "acme")


def test_a_key_of_a_customer_has_only_its_own_and_the_customers_budgets(
    state: GovernanceState,
) -> None:
    policy = compile_policy(state, "direct", BOX)

    assert policy is not None
    assert (policy.team_id, policy.customer_id, policy.is_active) == (None, "acme", False)
    assert [b.id for b in policy.budgets] == ["customer:acme#1M"]
    assert policy.routes == ()


def test_a_key_without_an_owner_has_no_inherited_budgets(state: GovernanceState) -> None:
    policy = compile_policy(state, "alone", BOX)

    assert policy is not None
    assert (policy.budgets, policy.rates, policy.expires_at) == ((), (), None)


def test_expiry_and_mcp_configs_are_carried(state: GovernanceState) -> None:
    policy = compile_policy(state, "ci", BOX)

    assert policy is not None
    assert policy.expires_at == datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    assert policy.mcp_configs == ({"mcp_client_name": "files", "tools_to_execute": ["*"]},)


def test_policy_management_figures_and_metrics_name_every_budget_and_limit_alike(
    state: GovernanceState,
) -> None:
    from govledger.exporters.prometheus import budget_rules_of
    from govledger.proxy.management.figures import all_budgets, all_rates

    policy = compile_policy(state, "ci", BOX)
    assert policy is not None
    compiled = {b.id for b in policy.budgets} | {b.id for r in policy.routes for b in r.budgets}
    limits = {r.id for r in policy.rates} | {x.id for r in policy.routes for x in r.rates}

    listed = [b.id for b in all_budgets(state)]
    exported = [b.id for b in budget_rules_of(state, 1000)[0]]

    assert listed == exported and len(set(listed)) == len(listed)
    assert compiled <= set(listed) and "virtual_key:ci/provider:openai#1d" in compiled
    assert limits == {r.id for r in all_rates(state)}


def many_keys(limits: list[str], route_budget: bool = False) -> dict[str, Any]:
    """FILE's customer and team with one key per limit, each routed to the one provider."""
    route: dict[str, Any] = {"provider": "claude", "key_ids": ["only"]}
    if route_budget:
        route["budgets"] = [{"max_limit": "2", "reset_duration": "1d"}]
    raw = copy.deepcopy(FILE)
    raw["providers"] = [p for p in raw["providers"] if p["name"] == "claude"]
    raw["virtual_keys"] = [
        {
            "id": f"k{i}",
            "name": f"k{i}",
            "team_id": "platform",
            "budgets": [{"max_limit": limit, "reset_duration": "1d"}],
            "rate_limit": {"request_max_limit": 60, "request_reset_duration": "1m"},
            "provider_configs": [route],
        }
        for i, limit in enumerate(limits)
    ]
    return raw


def test_keys_alike_share_their_owners_rules_their_route_schedules_and_limits() -> None:
    state = state_of(many_keys(["5", "5"]))
    shared = SharedParts()

    a, b = (compile_policy(state, key, BOX, shared=shared) for key in ("k0", "k1"))

    assert a is not None and b is not None
    assert [r.id for r in a.budgets] == [
        "virtual_key:k0#1d",
        "team:platform#1w",
        "customer:acme#1M",
    ]
    assert all(x is y for x, y in zip(a.budgets[1:], b.budgets[1:], strict=True))
    assert a.routes[0] is b.routes[0] and a.routes[0].keys[0].secret == "sk-ant-000"
    assert a.budgets[0].schedule is b.budgets[0].schedule
    assert a.budgets[0].limit is b.budgets[0].limit
    assert a.budgets[0] is not b.budgets[0] and a.rates[0].id != b.rates[0].id


def test_a_route_with_budgets_of_its_own_is_each_keys_own() -> None:
    state = state_of(many_keys(["5", "5"], route_budget=True))
    shared = SharedParts()

    a, b = (compile_policy(state, key, BOX, shared=shared) for key in ("k0", "k1"))

    assert a is not None and b is not None
    assert a.routes[0] is not b.routes[0] and a.routes[0].keys is b.routes[0].keys
    assert [r.id for r in a.routes[0].budgets] == ["virtual_key:k0/provider:claude#1d"]
    assert [r.id for r in b.routes[0].budgets] == ["virtual_key:k1/provider:claude#1d"]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from(["10", "10.0", "10.00", "1E+1", "7", "7.5", "0.1"]), min_size=1),
    st.booleans(),
)
def test_with_shared_parts_each_key_compiles_to_what_it_compiles_to_alone(
    limits: list[str], route_budget: bool
) -> None:
    state = state_of(many_keys(limits[:8], route_budget))
    shared = SharedParts()

    for i in range(len(limits[:8])):
        alone = compile_policy(state, f"k{i}", BOX)
        together = compile_policy(state, f"k{i}", BOX, shared=shared)

        assert together == alone and together is not None and alone is not None
        # equal is not enough for money: Decimal("10.0") == Decimal("10"), but it is shown
        # as written, so a part is shared only between keys whose stored text is the same
        assert [str(b.limit) for b in together.budgets] == [str(b.limit) for b in alone.budgets]
