"""The /metrics route gauges: factor and one-hot state per route, capped in cardinality."""

from __future__ import annotations

from typing import Any

import pytest

from govledger.projections.route_health import RouteHealthFold
from govledger.proxy.server import route_metrics

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
