"""Planning a config file against governance state: only the difference, never a secret."""

from __future__ import annotations

import copy
import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest

from govledger.ledger import commands
from govledger.ledger import events as ev
from govledger.ledger.config import ConfigError, parse_config
from govledger.ledger.credentials import SecretBox, hash_secret
from govledger.ledger.entities import GovernanceState
from govledger.ledger.plan import Plan, describe, make_plan

BOX = SecretBox(bytes(range(32)))
T0 = datetime(2025, 1, 1, 9, 30, tzinfo=UTC)
T1 = T0 + timedelta(days=3)
OPENAI_LITERAL = "sk-proj-literal-0123456789"
DEMO_VALUE = "sk-bf-demo-0123456789abcdef"
FILE: dict[str, Any] = {
    "providers": [
        {
            "name": "openai",
            "type": "openai",
            "base_url": "https://api.openai.com/v1/",
            "keys": [
                {"id": "literal", "value": OPENAI_LITERAL},
                {"id": "referenced", "value": "env.OPENAI_API_KEY", "weight": 2},
            ],
        }
    ],
    "customers": [
        {"id": "acme", "name": "Acme", "budgets": [{"max_limit": "100", "reset_duration": "1M"}]}
    ],
    "teams": [
        {
            "id": "platform",
            "name": "Platform",
            "customer_id": "acme",
            "budgets": [{"max_limit": "25", "reset_duration": "1w", "calendar_aligned": True}],
        }
    ],
    "virtual_keys": [
        {
            "id": "demo",
            "name": "Demo",
            "value": DEMO_VALUE,
            "team_id": "platform",
            "budgets": [{"max_limit": "5.00", "reset_duration": "1d"}],
            "provider_configs": [
                {
                    "provider": "openai",
                    "budgets": [{"max_limit": "2", "reset_duration": "1h"}],
                    "rate_limit": {"token_max_limit": 10000, "token_reset_duration": "1m"},
                }
            ],
        },
        {"id": "generated", "name": "Generated", "customer_id": "acme"},
    ],
}


def counter_keys() -> Callable[[], str]:
    """A key generator that returns predictable, distinct values."""
    numbers = itertools.count(1)
    return lambda: f"sk-bf-generated-{next(numbers):020d}"


def edited(edit: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    """A copy of FILE after an in-place edit."""
    raw = copy.deepcopy(FILE)
    edit(raw)
    return raw


def plan_of(raw: dict[str, Any], state: GovernanceState, now: datetime = T0) -> Plan:
    """The plan of a raw config against a state."""
    return make_plan(parse_config(raw), state, BOX, now, counter_keys())


def carry_out(plan: Plan, state: GovernanceState, now: datetime = T0) -> list[ev.EntityEvent]:
    """Fold the plan's events into the state, as apply would after appending them."""
    events = plan.events(state, "alice", "cli", now)
    for event in events:
        state.apply(event)
    return events


def applied(raw: dict[str, Any], now: datetime = T0) -> GovernanceState:
    """A state that already matches a config."""
    state = GovernanceState()
    carry_out(plan_of(raw, state, now), state, now)
    return state


def test_a_file_against_an_empty_state_creates_every_entity() -> None:
    plan = plan_of(FILE, GovernanceState())

    assert [(c.kind, c.entity_id, c.action) for c in plan.changes] == [
        ("provider", "openai", "create"),
        ("customer", "acme", "create"),
        ("team", "platform", "create"),
        ("virtual_key", "demo", "create"),
        ("virtual_key", "generated", "create"),
        ("settings", "gateway", "create"),
    ]
    assert all(c.before is None for c in plan.changes)


def test_created_entities_become_created_events_at_version_one() -> None:
    state = GovernanceState()
    events = carry_out(plan_of(FILE, state), state)

    assert [type(e).__name__ for e in events] == [
        "ProviderCreated",
        "CustomerCreated",
        "TeamCreated",
        "VirtualKeyCreated",
        "VirtualKeyCreated",
        "GatewaySettingsChanged",
    ]
    assert {e.originator_version for e in events} == {1}
    assert {(e.actor, e.source, e.timestamp) for e in events} == {("alice", "cli", T0)}
    assert state.get("team", "platform") == {
        "name": "Platform",
        "customer_id": "acme",
        "budgets": [
            {
                "max_limit": Decimal("25"),
                "reset_duration": "1w",
                "calendar_aligned": True,
                "mode": "strict",
                "anchor": T0.isoformat(),
            }
        ],
    }


def test_applying_the_same_file_twice_plans_nothing_the_second_time() -> None:
    state = applied(FILE)

    plan = plan_of(FILE, state, now=T1)

    assert plan.is_empty
    assert plan.new_key_values == {}
    assert describe(plan) == ["No changes: the ledger already matches the file."]


def test_changing_one_budget_plans_one_update_naming_the_field() -> None:
    state = applied(FILE)

    raw = edited(lambda f: f["teams"][0]["budgets"][0].update(max_limit="30"))
    plan = plan_of(raw, state, now=T1)

    [change] = plan.changes
    assert (change.kind, change.entity_id, change.action) == ("team", "platform", "update")
    assert change.fields == ("budgets",)
    assert change.after["budgets"][0]["max_limit"] == Decimal("30")
    assert describe(plan) == ["update  team platform (budgets)"]


def test_an_update_becomes_an_updated_event_after_the_streams_version() -> None:
    state = applied(FILE)
    raw = edited(lambda f: f["customers"][0].update(name="Acme Corp"))

    [event] = carry_out(plan_of(raw, state, now=T1), state, now=T1)

    assert isinstance(event, ev.CustomerUpdated)
    assert event.originator_version == 2
    assert state.get("customer", "acme") == {**event.data, "name": "Acme Corp"}


def test_budget_anchors_survive_an_update() -> None:
    state = applied(FILE)

    raw = edited(lambda f: f["virtual_keys"][0]["budgets"][0].update(max_limit="7"))
    raw["virtual_keys"][0]["provider_configs"][0]["budgets"][0]["max_limit"] = "3"
    [change] = plan_of(raw, state, now=T1).changes

    assert change.after["budgets"][0]["anchor"] == T0.isoformat()
    route = change.after["provider_configs"][0]
    assert route["budgets"][0]["anchor"] == T0.isoformat()


def test_a_budget_with_a_new_duration_is_anchored_at_the_change() -> None:
    state = applied(FILE)

    raw = edited(
        lambda f: f["customers"][0]["budgets"].append({"max_limit": "9", "reset_duration": "1d"})
    )
    [change] = plan_of(raw, state, now=T1).changes

    anchors = {b["reset_duration"]: b["anchor"] for b in change.after["budgets"]}
    assert anchors == {"1M": T0.isoformat(), "1d": T1.isoformat()}


def test_a_key_absent_from_the_file_is_disabled_once() -> None:
    state = applied(FILE)
    raw = edited(lambda f: f["virtual_keys"].pop())

    plan = plan_of(raw, state, now=T1)

    [change] = plan.changes
    assert (change.kind, change.entity_id, change.action) == ("virtual_key", "generated", "disable")
    assert change.fields == ("is_active",)
    assert change.after == {**(change.before or {}), "is_active": False}
    [event] = carry_out(plan, state, now=T1)
    assert isinstance(event, ev.VirtualKeyUpdated)
    assert plan_of(raw, state, now=T1).is_empty


def test_a_disabled_key_listed_again_is_enabled_with_its_old_value() -> None:
    state = applied(FILE)
    without = edited(lambda f: f["virtual_keys"].pop())
    carry_out(plan_of(without, state, now=T1), state, now=T1)
    old_hash = (state.get("virtual_key", "generated") or {})["value_hash"]

    plan = plan_of(FILE, state, now=T1)

    [change] = plan.changes
    assert change.action == "update"
    assert change.after["is_active"] is True
    assert change.after["value_hash"] == old_hash
    assert plan.new_key_values == {}


def test_literal_provider_keys_are_stored_encrypted() -> None:
    plan = plan_of(FILE, GovernanceState())

    provider = plan.changes[0].after
    literal, referenced = provider["keys"]
    assert set(literal) == {"id", "value_enc", "weight", "models"}
    assert literal["value_enc"].startswith("aesgcm:")
    assert BOX.decrypt(literal["value_enc"]) == OPENAI_LITERAL
    assert referenced["value_ref"] == "env.OPENAI_API_KEY"
    assert OPENAI_LITERAL not in orjson.dumps(provider, default=str).decode()


def test_an_unchanged_literal_keeps_its_ciphertext() -> None:
    state = applied(FILE)
    ciphertext = (state.get("provider", "openai") or {})["keys"][0]["value_enc"]

    raw = edited(lambda f: f["providers"][0]["keys"][0].update(weight=3))
    [change] = plan_of(raw, state, now=T1).changes

    assert change.fields == ("keys",)
    assert change.after["keys"][0]["value_enc"] == ciphertext
    assert change.after["keys"][0]["weight"] == 3


def test_a_changed_literal_is_encrypted_afresh() -> None:
    state = applied(FILE)
    ciphertext = (state.get("provider", "openai") or {})["keys"][0]["value_enc"]

    raw = edited(lambda f: f["providers"][0]["keys"][0].update(value="sk-proj-rotated-987654321"))
    [change] = plan_of(raw, state, now=T1).changes

    new = change.after["keys"][0]["value_enc"]
    assert new != ciphertext
    assert BOX.decrypt(new) == "sk-proj-rotated-987654321"


def test_a_literal_encrypted_under_another_master_key_is_encrypted_again() -> None:
    state = applied(FILE)

    other = SecretBox(bytes(32))
    [change] = make_plan(parse_config(FILE), state, other, T1, counter_keys()).changes

    assert change.kind == "provider"
    assert other.decrypt(change.after["keys"][0]["value_enc"]) == OPENAI_LITERAL


def test_a_generated_key_value_is_returned_once_and_only_its_hash_is_stored() -> None:
    state = GovernanceState()
    plan = plan_of(FILE, state)

    value = plan.new_key_values["generated"]
    assert list(plan.new_key_values) == ["generated"]
    assert value.startswith("sk-bf-")
    events = carry_out(plan, state)
    data = next(e.data for e in events if e.entity_id == "generated")
    assert data["value_hash"] == hash_secret(value)
    assert data["value_prefix"] == value[:10] + "…"
    stored = orjson.dumps([e.data for e in events], default=str).decode()
    assert value not in stored
    assert value[10:] not in stored
    assert state.key_by_hash[hash_secret(value)] == "generated"
    assert plan_of(FILE, state, now=T1).new_key_values == {}


def test_a_literal_virtual_key_is_stored_as_its_hash_only() -> None:
    state = GovernanceState()
    events = carry_out(plan_of(FILE, state), state)

    assert DEMO_VALUE not in orjson.dumps([e.data for e in events], default=str).decode()
    assert state.key_by_hash[hash_secret(DEMO_VALUE)] == "demo"


def test_a_virtual_key_referenced_from_the_environment_is_hashed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEMO_KEY", "sk-bf-from-the-environment-42")
    raw = edited(lambda f: f["virtual_keys"][0].update(value="env.DEMO_KEY"))

    change = plan_of(raw, GovernanceState()).changes[3]

    assert change.after["value_hash"] == hash_secret("sk-bf-from-the-environment-42")


def test_an_unset_environment_reference_is_refused_naming_the_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MISSING_KEY", raising=False)
    raw = edited(lambda f: f["virtual_keys"][1].update(value="env.MISSING_KEY"))

    with pytest.raises(ConfigError) as refused:
        plan_of(raw, GovernanceState())

    assert refused.value.problems == [
        ("virtual_keys[1].value", "environment variable MISSING_KEY is not set")
    ]


def test_changing_gateway_settings_plans_one_settings_update() -> None:
    state = applied(FILE)

    raw = {**FILE, "required_headers": {"X-Team": "platform"}}
    [change] = plan_of(raw, state, now=T1).changes

    assert (change.kind, change.action, change.fields) == (
        "settings",
        "update",
        ("required_headers",),
    )
    assert change.after["required_headers"] == {"x-team": "platform"}


def created_through(
    state: GovernanceState, source: str, kind: str, entity_id: str, data: dict[str, Any]
) -> None:
    """Fold an entity created by another channel (API, CLI or UI), as the commands do."""
    author = commands.Author("token:ops", source)
    state.apply(commands.event(state, kind, "created", entity_id, data, author, T0))


def test_the_file_manages_what_it_declares_and_records_it() -> None:
    state = applied(FILE)

    assert {state.manager(k, i) for (k, i) in state.entities} == {"config"}


def test_entities_made_through_the_api_are_left_alone_and_listed_as_not_managed() -> None:
    state = applied(FILE)
    api_key = {**(state.get("virtual_key", "generated") or {}), "name": "From the API"}
    created_through(state, "api", "virtual_key", "from-api", api_key)
    created_through(state, "cli", "customer", "initech", {"name": "Initech", "budgets": []})

    plan = plan_of(FILE, state)

    assert plan.is_empty
    assert describe(plan) == [
        "No changes: the ledger already matches the file.",
        "not managed by this file: customer initech (created by cli)",
        "not managed by this file: virtual_key from-api (created by api)",
    ]


def test_prune_disables_the_keys_the_file_does_not_declare_without_adopting_them() -> None:
    state = applied(FILE)
    api_key = {**(state.get("virtual_key", "generated") or {}), "name": "From the API"}
    created_through(state, "ui", "virtual_key", "from-ui", api_key)

    plan = make_plan(parse_config(FILE), state, BOX, T0, counter_keys(), prune=True)
    [change] = plan.changes
    assert (change.kind, change.entity_id, change.action) == ("virtual_key", "from-ui", "disable")
    carry_out(plan, state)

    assert (state.get("virtual_key", "from-ui") or {})["is_active"] is False
    assert state.manager("virtual_key", "from-ui") == "ui"


def test_a_file_that_declares_an_api_entity_adopts_it_even_unchanged() -> None:
    state = applied(FILE)
    data = state.get("customer", "acme")
    state = applied(edited(lambda f: f.update(customers=[], teams=[], virtual_keys=[])))
    created_through(state, "api", "customer", "acme", data or {})

    plan = plan_of(FILE, state)
    adopted = [c for c in plan.changes if c.kind == "customer"]
    assert [(c.action, c.fields) for c in adopted] == [("update", ("managed_by",))]
    carry_out(plan, state)

    assert state.manager("customer", "acme") == "config"
    assert plan_of(FILE, state).is_empty


def test_events_written_before_managed_by_are_read_by_their_source() -> None:
    state = GovernanceState()
    for source, entity_id in (("cli", "applied"), ("config", "served"), ("api", "rest")):
        state.apply(
            ev.CustomerCreated(
                originator_id=uuid.uuid4(),
                originator_version=1,
                timestamp=T0,
                actor="someone",
                source=source,
                entity_id=entity_id,
                data={"name": entity_id, "budgets": []},
            )
        )

    assert [state.manager("customer", i) for i in ("applied", "served", "rest")] == [
        "config",
        "config",
        "api",
    ]


GUARD = {"id": "no-cards", "attach": ["team:platform"], "checks": [{"type": "pii.card"}]}


def test_a_guardrail_in_the_file_is_created_then_updated_then_left_alone() -> None:
    state = applied(FILE)

    created = plan_of(edited(lambda f: f.update(guardrails=[GUARD])), state, now=T1)
    [change] = created.changes
    assert (change.kind, change.entity_id, change.action) == ("guardrail", "no-cards", "create")
    [event] = carry_out(created, state, now=T1)
    assert isinstance(event, ev.GuardrailCreated)
    [check] = event.data["checks"]
    assert (check["type"], check["action"], event.data["scope"]) == ("pii.card", "block", "both")
    assert plan_of(edited(lambda f: f.update(guardrails=[GUARD])), state, now=T1).is_empty

    stricter = {**GUARD, "on_error": "fail_closed"}
    [update] = plan_of(edited(lambda f: f.update(guardrails=[stricter])), state, now=T1).changes
    assert (update.action, update.fields) == ("update", ("on_error",))


def test_a_guardrail_pattern_outside_re2_is_refused_naming_its_path() -> None:
    bad = {**GUARD, "checks": [{"type": "deny.regex", "patterns": ["ok", "(?<=x)y"]}]}
    with pytest.raises(ConfigError) as caught:
        parse_config(edited(lambda f: f.update(guardrails=[bad])))
    [(path, message)] = caught.value.problems
    assert path == "guardrails[0].checks[0].patterns"
    assert "pattern 1 is not in the RE2 syntax" in message
