"""The config file is refused with one problem per bad field, each naming its JSON path."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from govledger.ledger.config import ConfigError, parse_config

PROVIDER = {
    "name": "openai",
    "type": "openai",
    "base_url": "https://api.openai.com/v1",
    "keys": [{"id": "main", "value": "env.OPENAI_API_KEY"}],
}
BUDGET = {"max_limit": "10.00", "reset_duration": "1d"}
VALID: dict[str, Any] = {
    "providers": [PROVIDER],
    "customers": [{"id": "acme", "name": "Acme", "budgets": [BUDGET]}],
    "teams": [{"id": "platform", "name": "Platform", "customer_id": "acme", "budgets": [BUDGET]}],
    "virtual_keys": [
        {
            "id": "ci",
            "name": "CI",
            "team_id": "platform",
            "budgets": [BUDGET],
            "rate_limit": {"request_max_limit": 60, "request_reset_duration": "1m"},
            "provider_configs": [{"provider": "openai", "key_ids": ["main"]}],
        }
    ],
}


def config(**sections: Any) -> dict[str, Any]:
    """The valid config with some top-level sections replaced."""
    return {**copy.deepcopy(VALID), **sections}


def key(**fields: Any) -> dict[str, Any]:
    """The valid virtual key with some fields replaced."""
    return {**copy.deepcopy(VALID["virtual_keys"][0]), **fields}


def problems_of(raw: Any) -> list[tuple[str, str]]:
    """The problems parse_config reports for a document (failing if it accepts it)."""
    with pytest.raises(ConfigError) as refused:
        parse_config(raw)
    return refused.value.problems


def paths_of(raw: Any) -> list[str]:
    """Only the JSON paths of the problems."""
    return [path for path, _ in problems_of(raw)]


def test_the_valid_config_is_accepted() -> None:
    parsed = parse_config(config())
    assert parsed.virtual_keys[0].budgets[0].max_limit == Decimal("10.00")


def test_refuses_an_unknown_field_naming_its_path() -> None:
    raw = config(providers=[{**PROVIDER, "region": "eu"}])
    assert problems_of(raw) == [("providers[0].region", "Extra inputs are not permitted")]


def test_refuses_an_unknown_top_level_field_naming_it() -> None:
    assert paths_of({**VALID, "virtual_key": []}) == ["virtual_key"]


def test_refuses_a_negative_limit_naming_its_path() -> None:
    raw = config(
        customers=[{"id": "acme", "name": "Acme", "budgets": [{**BUDGET, "max_limit": "-1"}]}]
    )
    [(path, message)] = problems_of(raw)
    assert path == "customers[0].budgets[0].max_limit"
    assert "greater than or equal to 0" in message


@pytest.mark.parametrize("limit", ["NaN", "Infinity"])
def test_refuses_a_limit_that_is_not_a_finite_number(limit: str) -> None:
    raw = config(virtual_keys=[key(budgets=[{**BUDGET, "max_limit": limit}])])
    assert paths_of(raw) == ["virtual_keys[0].budgets[0].max_limit"]


def test_refuses_a_duration_with_an_unknown_unit_naming_its_path() -> None:
    team = {"id": "platform", "name": "Platform", "budgets": [{**BUDGET, "reset_duration": "5x"}]}
    [(path, message)] = problems_of(config(teams=[team], virtual_keys=[]))
    assert path == "teams[0].budgets[0].reset_duration"
    assert "'5x'" in message


def test_refuses_a_key_with_both_a_team_and_a_customer_naming_the_field() -> None:
    raw = config(virtual_keys=[key(customer_id="acme")])
    assert problems_of(raw) == [
        ("virtual_keys[0].customer_id", "a virtual key belongs to a team or a customer, never both")
    ]


def test_refuses_a_route_to_a_missing_provider() -> None:
    raw = config(virtual_keys=[key(provider_configs=[{"provider": "anthropic"}])])
    assert problems_of(raw) == [
        ("virtual_keys[0].provider_configs[0].provider", "no provider 'anthropic'")
    ]


def test_refuses_a_key_of_a_missing_team() -> None:
    raw = config(virtual_keys=[key(team_id="research")])
    assert problems_of(raw) == [("virtual_keys[0].team_id", "no team 'research' in the file")]


def test_refuses_a_key_or_team_of_a_missing_customer() -> None:
    team = {"id": "platform", "name": "Platform", "customer_id": "globex"}
    raw = config(teams=[team], virtual_keys=[key(team_id=None, customer_id="initech")])
    assert paths_of(raw) == ["teams[0].customer_id", "virtual_keys[0].customer_id"]


def test_refuses_a_route_to_a_missing_provider_key() -> None:
    route = {"provider": "openai", "key_ids": ["main", "backup"]}
    raw = config(virtual_keys=[key(provider_configs=[route])])
    assert problems_of(raw) == [
        ("virtual_keys[0].provider_configs[0].key_ids[1]", "provider 'openai' has no key 'backup'")
    ]


def test_refuses_duplicate_ids_in_each_section() -> None:
    raw = config(
        providers=[PROVIDER, PROVIDER],
        customers=[{"id": "acme", "name": "A"}, {"id": "acme", "name": "B"}],
        teams=[{"id": "platform", "name": "A"}, {"id": "platform", "name": "B"}],
        virtual_keys=[key(), key(name="again")],
    )
    assert problems_of(raw) == [
        ("providers[1]", "duplicate id 'openai'"),
        ("customers[1]", "duplicate id 'acme'"),
        ("teams[1]", "duplicate id 'platform'"),
        ("virtual_keys[1]", "duplicate id 'ci'"),
    ]


def test_refuses_two_provider_configs_of_one_key_for_the_same_provider() -> None:
    routes = [{"provider": "openai", "allowed_models": ["gpt-4o"]}, {"provider": "openai"}]
    raw = config(virtual_keys=[key(provider_configs=routes)])
    assert problems_of(raw) == [
        (
            "virtual_keys[0].provider_configs[1].provider",
            "provider 'openai' already has a provider config in this key",
        )
    ]


def test_refuses_duplicate_provider_key_ids() -> None:
    keys = [{"id": "main", "value": "env.A"}, {"id": "main", "value": "env.B"}]
    raw = config(providers=[{**PROVIDER, "keys": keys}])
    assert paths_of(raw) == ["providers[0].keys"]


@pytest.mark.parametrize(
    ("section", "owner", "path"),
    [
        ("customers", {"id": "acme", "name": "Acme"}, "customers[0].budgets"),
        ("teams", {"id": "platform", "name": "Platform"}, "teams[0].budgets"),
        ("virtual_keys", key(), "virtual_keys[0].budgets"),
    ],
)
def test_refuses_two_budgets_of_one_owner_with_the_same_duration(
    section: str, owner: dict[str, Any], path: str
) -> None:
    budgets = [BUDGET, {**BUDGET, "max_limit": "20", "calendar_aligned": True}]
    [(found, message)] = problems_of(config(**{section: [{**owner, "budgets": budgets}]}))
    assert found == path
    assert "distinct reset_duration" in message


def test_refuses_duplicate_durations_in_a_routes_budgets() -> None:
    route = {"provider": "openai", "budgets": [BUDGET, BUDGET]}
    raw = config(virtual_keys=[key(provider_configs=[route])])
    assert paths_of(raw) == ["virtual_keys[0].provider_configs[0].budgets"]


@pytest.mark.parametrize("window", ["59s", "30s", "32d", "5w", "2M", "1Q", "1Y"])
def test_refuses_a_rate_limit_window_outside_one_minute_to_one_month(window: str) -> None:
    limit = {"token_max_limit": 1000, "token_reset_duration": window}
    [(path, message)] = problems_of(config(virtual_keys=[key(rate_limit=limit)]))
    assert path == "virtual_keys[0].rate_limit.token_reset_duration"
    assert "1m to 1M" in message


@pytest.mark.parametrize("window", ["1m", "60s", "1h", "1d", "4w", "31d", "1M"])
def test_accepts_a_rate_limit_window_from_one_minute_to_one_month(window: str) -> None:
    limit = {"request_max_limit": 10, "request_reset_duration": window}
    route = {"provider": "openai", "rate_limit": limit}
    parsed = parse_config(config(virtual_keys=[key(rate_limit=limit, provider_configs=[route])]))
    assert parsed.virtual_keys[0].rate_limit is not None


def test_refuses_a_rate_limit_with_a_limit_but_no_window() -> None:
    raw = config(virtual_keys=[key(rate_limit={"request_max_limit": 10})])
    [(path, message)] = problems_of(raw)
    assert path == "virtual_keys[0].rate_limit"
    assert "go together" in message


def test_refuses_a_literal_virtual_key_that_is_not_an_sk_bf_key() -> None:
    raw = config(virtual_keys=[key(value="sk-proj-abcdefghijklmnop")])
    assert paths_of(raw) == ["virtual_keys[0].value"]


def test_refuses_an_expiry_without_a_time_zone() -> None:
    raw = config(virtual_keys=[key(expires_at="2030-01-01T00:00:00")])
    assert paths_of(raw) == ["virtual_keys[0].expires_at"]


def test_lists_every_problem_of_the_file_at_once() -> None:
    raw = config(
        providers=[{**PROVIDER, "region": "eu"}],
        customers=[
            {"id": "acme", "name": "", "budgets": [{"max_limit": "-1", "reset_duration": "5x"}]}
        ],
        virtual_keys=[
            key(
                customer_id="acme",
                rate_limit={"request_max_limit": 1, "request_reset_duration": "1s"},
            )
        ],
    )
    assert paths_of(raw) == [
        "providers[0].region",
        "customers[0].name",
        "customers[0].budgets[0].max_limit",
        "customers[0].budgets[0].reset_duration",
        "virtual_keys[0].customer_id",
        "virtual_keys[0].rate_limit.request_reset_duration",
    ]


def test_lists_every_dangling_reference_at_once() -> None:
    raw = config(
        teams=[{"id": "platform", "name": "P", "customer_id": "globex"}],
        virtual_keys=[
            key(team_id="research", provider_configs=[{"provider": "gemini"}]),
            key(id="other", team_id=None, customer_id="initech"),
        ],
    )
    assert paths_of(raw) == [
        "teams[0].customer_id",
        "virtual_keys[0].team_id",
        "virtual_keys[0].provider_configs[0].provider",
        "virtual_keys[1].customer_id",
    ]


def test_the_error_message_is_each_path_and_its_problem() -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(config(virtual_keys=[key(team_id="research", customer_id="acme")]))
    assert str(refused.value) == (
        "virtual_keys[0].customer_id: a virtual key belongs to a team or a customer, never both"
    )


def test_a_document_that_is_not_an_object_is_refused_at_the_root() -> None:
    assert paths_of([]) == ["(root)"]


def test_record_headers_refuse_credential_headers_naming_each_path() -> None:
    raw = config(
        record_headers=["x-tenant", "Authorization", "x-bf-vk", "x-stage", "x-mcp-auth"],
        required_headers={"x-stage": "env.STAGE", "x-tenant": "*"},
        mcp_clients=[
            {"name": "files", "url": "http://mcp", "headers": {"X-MCP-Auth": "env.MCP_TOKEN"}}
        ],
    )
    assert paths_of(raw) == [
        "record_headers[1]",
        "record_headers[2]",
        "record_headers[3]",
        "record_headers[4]",
    ]
    assert problems_of(raw)[0][1] == "'Authorization' carries a credential and cannot be recorded"


@pytest.mark.parametrize(
    "name", ["authorization", "proxy-authorization", "cookie", "x-api-key", "x-goog-api-key"]
)
def test_every_credential_header_is_refused(name: str) -> None:
    assert paths_of(config(record_headers=[name])) == ["record_headers[0]"]


def test_other_headers_are_recorded() -> None:
    assert parse_config(config(record_headers=["x-tenant"])).record_headers == ["x-tenant"]


def test_personal_headers_must_be_recorded_headers() -> None:
    raw = config(record_headers=["X-User-Id", "x-tenant"], personal_headers=["x-user-id", "x-mail"])
    assert paths_of(raw) == ["personal_headers[1]"]
    assert problems_of(raw)[0][1] == "'x-mail' is not one of record_headers"
