"""`/metrics` gauges of adaptive routing: each route's state and weight factor, and per
routing group of adaptive keys each route's effective weight and state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from govledger.projections.route_health import STATES, RouteHealthFold
from govledger.proxy.enforcement.route_report import RoutingGroup, group_rows, route_rows

ROUTE_SERIES_CAP = 200  # routes in the route gauges, at most (the rest are counted)
GROUP_SERIES_CAP = 200  # (group, route) pairs in the group gauges, at most (likewise)


def route_families(
    fold: RouteHealthFold, now: float, groups: Sequence[RoutingGroup] = ()
) -> list[Metric]:
    """Each route's state and the factor of its configured weight (adaptive routing), and
    each routing group's effective weights and states."""
    health = fold.health(now)
    rows = route_rows(health, now)
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
    return [factor, state, capped, *group_families(group_rows(groups, health, fold.tick(now)))]


def group_families(rows: list[dict[str, Any]]) -> list[Metric]:
    """The group gauges: effective weight and one-hot state per (group, route), capped."""
    labels = ["group", "provider", "key", "model"]
    weight = GaugeMetricFamily(
        "govledger_route_effective_weight",
        "The share of a routing group's requests whose first attempt goes to this route"
        " (adaptive keys with the same routes form a group, named by its first key id).",
        labels=labels,
    )
    state = GaugeMetricFamily(
        "govledger_route_group_state",
        "1 for the state of a route as its routing group sees it.",
        labels=[*labels, "state"],
    )
    for row in rows[:GROUP_SERIES_CAP]:
        names = [str(row["group"]), str(row["provider"]), str(row["key_id"]), str(row["model"])]
        weight.add_metric(names, row["effective"])
        for name in STATES:
            state.add_metric([*names, name], 1.0 if row["state"] == name else 0.0)
    capped = GaugeMetricFamily(
        "govledger_route_group_series_capped",
        "(group, route) pairs left out of the group gauges by the cardinality cap.",
        value=max(len(rows) - GROUP_SERIES_CAP, 0),
    )
    return [weight, state, capped]
