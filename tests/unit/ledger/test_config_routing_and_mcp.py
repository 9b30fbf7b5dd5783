"""Config for cross-provider routing (model maps), MCP clients and required headers."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from govledger.ledger.config import ConfigError, parse_config
from govledger.ledger.credentials import SecretBox
from govledger.ledger.entities import GovernanceState
from govledger.ledger.plan import make_plan
from govledger.projections.policy import compile_policy

T0 = datetime(2025, 1, 1, tzinfo=UTC)
BOX = SecretBox(bytes(range(32)))
BASE: dict[str, Any] = {
    "providers": [
        {
            "name": "claude",
            "type": "anthropic",
            "base_url": "https://api.anthropic.com",
            "keys": [{"id": "k", "value": "env.ANTHROPIC_API_KEY"}],
        }
    ],
    "virtual_keys": [
        {
            "id": "ci",
            "name": "CI",
            "value": "sk-bf-config-test-0001",
            "provider_configs": [{"provider": "claude"}],
        }
    ],
}


def config(**sections: Any) -> dict[str, Any]:
    """BASE with some top-level sections replaced."""
    return {**copy.deepcopy(BASE), **sections}


def problems_of(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """What parse_config refuses, path by path."""
    with pytest.raises(ConfigError) as refused:
        parse_config(raw)
    return refused.value.problems


def state_of(raw: dict[str, Any]) -> GovernanceState:
    """A governance state that matches the config."""
    state = GovernanceState()
    plan = make_plan(parse_config(raw), state, BOX, T0, lambda: "sk-bf-generated-000000001")
    for event in plan.events(state, "test", "cli", T0):
        state.apply(event)
    return state


def test_a_route_model_map_reaches_the_compiled_route() -> None:
    raw = config()
    raw["virtual_keys"][0]["provider_configs"][0]["model_map"] = {"gpt-4o": "claude-sonnet-4-5"}
    policy = compile_policy(state_of(raw), "ci", BOX)
    assert policy is not None
    [route] = policy.routes
    assert route.upstream_model("gpt-4o") == "claude-sonnet-4-5"
    assert route.upstream_model("claude/claude-haiku-4-5") == "claude-haiku-4-5"
    assert route.upstream_model("other") == "other"


def test_a_route_without_a_model_map_stores_none_so_old_ledgers_plan_no_change() -> None:
    state = state_of(config())
    data = state.get("virtual_key", "ci")
    assert data is not None
    assert "model_map" not in data["provider_configs"][0]
    again = make_plan(parse_config(config()), state, BOX, T0, lambda: "unused")
    assert again.is_empty


def test_mcp_clients_are_kept_in_the_gateway_settings() -> None:
    clients = [{"name": "files", "url": "http://127.0.0.1:9/mcp"}]
    state = state_of(config(mcp_clients=clients))
    assert state.settings()["mcp_clients"] == [{**clients[0], "headers": {}}]


@pytest.mark.parametrize(
    ("client", "path"),
    [
        ({"name": "has-hyphen", "url": "http://x/mcp"}, "mcp_clients[0].name"),
        ({"name": "files", "url": "ftp://x/mcp"}, "mcp_clients[0].url"),
        (
            {"name": "files", "url": "http://x/mcp", "headers": {"authorization": "Bearer x"}},
            "mcp_clients[0].headers",
        ),
    ],
)
def test_an_mcp_client_is_refused_naming_the_bad_field(client: dict[str, Any], path: str) -> None:
    assert [p for p, _ in problems_of(config(mcp_clients=[client]))] == [path]


def test_two_mcp_clients_may_not_share_a_name() -> None:
    clients = [{"name": "files", "url": "http://a/mcp"}, {"name": "files", "url": "http://b/mcp"}]
    assert problems_of(config(mcp_clients=clients)) == [
        ("mcp_clients[1].name", "duplicate MCP client 'files'")
    ]


def test_a_required_header_rule_must_be_a_star_a_reference_or_a_valid_expression() -> None:
    good = {"x-team": "*", "x-env": "env.TEAM", "x-tenant": "t-[0-9]+"}
    assert parse_config(config(required_headers=good)).required_headers == good
    [(path, message)] = problems_of(config(required_headers={"x-tenant": "t-[0-9"}))
    assert path == "required_headers"
    assert "x-tenant" in message


def test_routing_is_weighted_by_default_adaptive_by_file_or_by_key() -> None:
    def routing(raw: dict[str, Any]) -> str:
        policy = compile_policy(state_of(raw), "ci", BOX)
        assert policy is not None
        return policy.routing

    assert routing(config()) == "weighted"
    assert routing(config(routing="adaptive")) == "adaptive"
    own = config(routing="adaptive")
    own["virtual_keys"][0]["routing"] = "weighted"
    assert routing(own) == "weighted"  # the key's own choice wins


def test_a_file_without_routing_plans_no_change_to_entities_written_before_it() -> None:
    state = state_of(config())
    assert "routing" not in (state.get("virtual_key", "ci") or {})
    assert "routing" not in state.settings()
    assert make_plan(parse_config(config()), state, BOX, T0, lambda: "unused").is_empty


def test_an_unknown_routing_is_refused_naming_its_path() -> None:
    raw = config()
    raw["virtual_keys"][0]["routing"] = "fastest"

    assert [path for path, _ in problems_of(raw)] == ["virtual_keys[0].routing"]
