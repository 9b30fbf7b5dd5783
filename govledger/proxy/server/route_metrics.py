"""`/metrics` gauges of adaptive routing: each route's state and weight factor, and per
routing group of adaptive keys each route's effective weight and state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from govledger.projections.route_health import STATES, RouteHealthFold
from govledger.proxy.enforcement.route_report import RoutingGroup, group_rows, route_rows

ROUTE_SERIES_CAP = 200  # routes in the route gauges, at most (the rest are counted)
GROUP_SERIES_CAP = 200  # (group, route) pairs in the group gauges, at most (likewise)


@dataclass(frozen=True)
class Gauges:
    """One value gauge and one one-hot state gauge over rows, capped, with a count of the
    rows left out."""

    value: tuple[str, str]  # name, help
    state: tuple[str, str]
    capped: tuple[str, str]
    labels: tuple[str, ...]  # the labels' row fields, in order
    names: tuple[str, ...]  # the labels as exported
    field: str  # the row field of the value

    def families(self, rows: list[dict[str, Any]], cap: int) -> list[Metric]:
        """The three families of the rows."""
        value = GaugeMetricFamily(*self.value, labels=list(self.names))
        state = GaugeMetricFamily(*self.state, labels=[*self.names, "state"])
        for row in rows[:cap]:
            names = [str(row[label]) for label in self.labels]
            value.add_metric(names, row[self.field])
            for name in STATES:
                state.add_metric([*names, name], 1.0 if row["state"] == name else 0.0)
        capped = GaugeMetricFamily(*self.capped, value=max(len(rows) - cap, 0))
        return [value, state, capped]


ROUTES = Gauges(
    (
        "govledger_route_weight_factor",
        "A route's effective weight as a fraction of its configured weight (adaptive routing).",
    ),
    (
        "govledger_route_state",
        "1 for a route's current health state (healthy, degraded, failed, recovering).",
    ),
    (
        "govledger_route_series_capped",
        "Routes left out of the route gauges by the cardinality cap.",
    ),
    ("provider", "key_id", "model"),
    ("provider", "key", "model"),
    "factor",
)
GROUPS = Gauges(
    (
        "govledger_route_effective_weight",
        "The share of a routing group's requests whose first attempt goes to this route"
        " (adaptive keys with the same routes form a group, named by its first key id).",
    ),
    ("govledger_route_group_state", "1 for the state of a route as its routing group sees it."),
    (
        "govledger_route_group_series_capped",
        "(group, route) pairs left out of the group gauges by the cardinality cap.",
    ),
    ("group", "provider", "key_id", "model"),
    ("group", "provider", "key", "model"),
    "effective",
)


def route_families(
    fold: RouteHealthFold, now: float, groups: Sequence[RoutingGroup] = ()
) -> list[Metric]:
    """Each route's state and the factor of its configured weight (adaptive routing), and
    each routing group's effective weights and states."""
    health = fold.health(now)
    return [
        *ROUTES.families(route_rows(health, now), ROUTE_SERIES_CAP),
        *GROUPS.families(group_rows(groups, health, fold.tick(now)), GROUP_SERIES_CAP),
    ]
