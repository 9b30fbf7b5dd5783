"""Adaptive routing's parameters: file-wide and per key in config.json, validated by path,
merged over the defaults (a key's own weight parameters win), and taken by the health fold."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from govledger.ledger.config import parse_config
from govledger.ledger.plan import make_plan
from govledger.ledger.route_params import (
    DEFAULT_HEALTH,
    DEFAULT_WEIGHTS,
    HealthParams,
    health_params,
    weight_params,
)
from govledger.projections.policy import compile_policy
from govledger.projections.route_health import RouteHealthFold
from tests.unit.ledger.test_config_routing_and_mcp import BOX, T0, config, problems_of, state_of


def test_absent_parameters_are_the_defaults_and_plan_no_change() -> None:
    state = state_of(config())
    assert health_params(state.settings()) == DEFAULT_HEALTH
    policy = compile_policy(state, "ci", BOX)
    assert policy is not None and policy.weights == DEFAULT_WEIGHTS
    assert "adaptive" not in state.settings()
    assert make_plan(parse_config(config()), state, BOX, T0, lambda: "unused").is_empty


def test_the_files_parameters_apply_and_a_keys_own_weight_parameters_win() -> None:
    raw = config(adaptive={"decay_s": 20, "cooldown_s": 3, "probe_floor": 0.2, "max_boost": 2})
    raw["virtual_keys"][0]["adaptive"] = {"probe_floor": 0.05}
    state = state_of(raw)

    health = health_params(state.settings())
    assert (health.decay_s, health.cooldown_s, health.bucket_s) == (20, 3, 0.5)
    policy = compile_policy(state, "ci", BOX)
    assert policy is not None
    assert (policy.weights.probe_floor, policy.weights.max_boost) == (0.05, 2)
    assert policy.weights.error_penalty == DEFAULT_WEIGHTS.error_penalty
    assert make_plan(parse_config(raw), state, BOX, T0, lambda: "unused").is_empty
    assert weight_params({}, {"adaptive": {"max_boost": 4}}).max_boost == 4


@pytest.mark.parametrize(
    ("where", "values", "path"),
    [
        ("file", {"probe_floor": 0}, "adaptive.probe_floor"),
        ("file", {"bucket_s": "fast"}, "adaptive.bucket_s"),
        ("file", {"max_boost": 0.5}, "adaptive.max_boost"),
        ("file", {"recover_at": 0.2, "degrade_at": 0.1}, "adaptive"),
        ("file", {"horizon_s": 10, "decay_s": 10}, "adaptive"),
        ("file", {"buckets": 3}, "adaptive.buckets"),
        ("key", {"decay_s": 5}, "virtual_keys[0].adaptive.decay_s"),  # health: file-wide only
        ("key", {"error_penalty": -1}, "virtual_keys[0].adaptive.error_penalty"),
    ],
)
def test_bad_parameters_are_refused_naming_their_path(
    where: str, values: dict[str, Any], path: str
) -> None:
    raw = copy.deepcopy(config())
    if where == "file":
        raw["adaptive"] = values
    else:
        raw["virtual_keys"][0]["adaptive"] = values
    problems = problems_of(raw)
    assert [p for p, _ in problems] == [path], problems


def test_the_fold_takes_new_parameters_and_a_new_bucket_width_restarts_the_evidence() -> None:
    fold = RouteHealthFold()
    ok = {"provider": "p", "key_id": "k", "model": "m", "status": 200, "error": "", "ms": 5.0}
    fold.observe(ok, 1_780_000_000.0)
    fold.configure(HealthParams(decay_s=30))
    assert fold.buckets and fold.params.decay_s == 30
    fold.configure(HealthParams(decay_s=30, bucket_s=1.0, horizon_s=300))
    assert fold.buckets == {}
    assert fold.cooling.longest_s == 300  # a local cool-down lasts at most the horizon
    assert fold.cooling.max_routes == DEFAULT_HEALTH.max_routes
