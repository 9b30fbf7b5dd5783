"""The /metrics route gauges: factor and one-hot state per route, capped in cardinality."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from govledger.projections.policy import KeyPolicy
from govledger.projections.route_health import RouteHealthFold
from govledger.proxy.enforcement.route_report import group_rows, routing_groups
from govledger.proxy.server import route_metrics
from tests.unit.proxy.adaptive_simulation import key_policy, route

T0 = 1_780_000_000.0


def fold_with(models: list[str]) -> RouteHealthFold:
    """A fold with a few successful attempts per model on one provider key."""
    fold = RouteHealthFold()
    for model in models:
        for i in range(5):
            ok = {"provider": "p", "key_id": "k", "model": model, "status": 200, "ms": 10.0}
            fold.observe({**ok, "error": ""}, T0 + i / 10)
    return fold


def samples(families: list[Any], name: str) -> list[Any]:
    """The samples of one family."""
    return [s for f in families if f.name == name for s in f.samples]


def test_each_route_has_its_factor_and_exactly_one_state() -> None:
    families = route_metrics.route_families(fold_with(["m1", "m2"]), T0 + 5)

    factors = samples(families, "govledger_route_weight_factor")
    assert {(s.labels["model"], s.value) for s in factors} == {("m1", 1.0), ("m2", 1.0)}
    states = samples(families, "govledger_route_state")
    assert {(s.labels["model"], s.labels["state"]) for s in states if s.value == 1} == {
        ("m1", "healthy"),
        ("m2", "healthy"),
    }
    assert len(states) == 2 * 4


def test_routes_beyond_the_cap_are_counted_not_exported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(route_metrics, "ROUTE_SERIES_CAP", 2)
    families = route_metrics.route_families(fold_with(["m1", "m2", "m3"]), T0 + 5)

    assert len(samples(families, "govledger_route_weight_factor")) == 2
    assert [s.value for s in samples(families, "govledger_route_series_capped")] == [1]


def adaptive_key(key_id: str, weights: tuple[float, ...], routing: str = "adaptive") -> KeyPolicy:
    """A key over routes a, b, c with the given configured weights."""
    routes = [route(name, weight) for name, weight in zip("abc", weights, strict=True)]
    return replace(key_policy(routes, routing), key_id=key_id)


def test_adaptive_keys_with_the_same_routes_form_one_group_and_weighted_keys_none() -> None:
    keys = [
        adaptive_key("k2", (1, 1, 1)),
        adaptive_key("k1", (1, 1, 1)),
        adaptive_key("k3", (2, 1, 1)),
        adaptive_key("w", (1, 1, 1), routing="weighted"),
        None,
    ]
    groups = routing_groups(keys)
    assert [(g.name, g.members) for g in groups] == [("k1", ("k1", "k2")), ("k3", ("k3",))]


def test_group_gauges_give_each_routes_effective_weight_and_state_per_group() -> None:
    fold = RouteHealthFold()
    for i in range(20):
        for name in "abc":
            status = 503 if name == "b" else 200
            attempt = {"provider": name, "key_id": f"{name}-key", "model": "m1",
                       "status": status, "error": "", "ms": 10.0}  # fmt: skip
            fold.observe(attempt, T0 + i / 10)
    groups = routing_groups([adaptive_key("k1", (1, 1, 1)), adaptive_key("k3", (2, 1, 1))])
    families = route_metrics.route_families(fold, T0 + 5, groups)

    weights = samples(families, "govledger_route_effective_weight")
    by = {(s.labels["group"], s.labels["provider"]): s.value for s in weights}
    assert by[("k1", "b")] == 0.0 and by[("k3", "b")] == 0.0  # b failed: cooling
    assert math.isclose(by[("k1", "a")], 0.5) and math.isclose(by[("k3", "a")], 2 / 3, rel_tol=1e-5)
    for group in ("k1", "k3"):
        assert math.isclose(sum(v for (g, _), v in by.items() if g == group), 1.0, rel_tol=1e-5)
    states = samples(families, "govledger_route_group_state")
    failed = {(s.labels["group"], s.labels["provider"]) for s in states if s.value == 1
              and s.labels["state"] == "failed"}  # fmt: skip
    assert failed == {("k1", "b"), ("k3", "b")}
    rows = group_rows(groups, fold.health(T0 + 5), fold.tick(T0 + 5))
    assert [(r["group"], r["provider"], r["effective"]) for r in rows] == [
        (s.labels["group"], s.labels["provider"], s.value) for s in weights
    ]  # the management API's rows are the gauges' figures


def test_group_series_beyond_the_cap_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(route_metrics, "GROUP_SERIES_CAP", 2)
    groups = routing_groups([adaptive_key("k1", (1, 1, 1))])
    fold = fold_with(["m1"])
    fold.observe({"provider": "a", "key_id": "a-key", "model": "m1", "status": 200,
                  "error": "", "ms": 10.0}, T0)  # fmt: skip
    families = route_metrics.route_families(fold, T0 + 5, groups)

    assert len(samples(families, "govledger_route_effective_weight")) == 2
    assert [s.value for s in samples(families, "govledger_route_group_series_capped")] == [1]
