"""`/metrics` gauges of adaptive routing: each route's state and weight factor."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily, Metric

from govledger.projections.route_health import STATES, RouteHealthFold
from govledger.proxy.enforcement.route_report import route_rows

ROUTE_SERIES_CAP = 200  # routes in the route gauges, at most (the rest are counted)


def route_families(fold: RouteHealthFold, now: float) -> list[Metric]:
    """Each route's state and the factor of its configured weight (adaptive routing)."""
    rows = route_rows(fold.health(now), now)
    labels = ["provider", "key", "model"]
    factor = GaugeMetricFamily(
        "govledger_route_weight_factor",
        "A route's effective weight as a fraction of its configured weight (adaptive routing).",
        labels=labels,
    )
    state = GaugeMetricFamily(
        "govledger_route_state",
        "1 for a route's current health state (healthy, degraded, failed, recovering).",
        labels=[*labels, "state"],
    )
    for row in rows[:ROUTE_SERIES_CAP]:
        names = [row["provider"], row["key_id"], row["model"]]
        factor.add_metric(names, row["factor"])
        for name in STATES:
            state.add_metric([*names, name], 1.0 if row["state"] == name else 0.0)
    capped = GaugeMetricFamily(
        "govledger_route_series_capped",
        "Routes left out of the route gauges by the cardinality cap.",
        value=max(len(rows) - ROUTE_SERIES_CAP, 0),
    )
    return [factor, state, capped]
