"""The exposition's families, the alert rules and the dashboard agree on metric names."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from govledger.exporters.metrics_fold import labels_text
from govledger.exporters.prometheus import (
    LiveMetrics,
    _Fixed,
    budget_families,
    lag_family,
    stream_families,
)
from govledger.ledger.entities import GovernanceState
from govledger.projections.usage_state import UsageState

OPS = Path(__file__).resolve().parents[3] / "ops" / "prometheus"


def exported_names() -> set[str]:
    """Every sample name the exporter can emit."""
    families = [
        *stream_families([]),
        lag_family([], {}),
        *budget_families(GovernanceState(), UsageState(), datetime.now(UTC), 0),
    ]
    live = LiveMetrics()
    names: set[str] = set()
    for metric in [*families, *live.registry.collect()]:
        if metric.type == "counter":
            found = {metric.name + "_total"}
        elif metric.type == "histogram":
            found = {metric.name + s for s in ("_bucket", "_sum", "_count")}
        else:
            found = {metric.name}
        names.update(found)
    return names


def test_histogram_rows_become_cumulative_buckets_with_every_bound() -> None:
    labels = labels_text({"provider": "p", "le": "0.005"})
    rows = [
        ("govledger_upstream_latency_seconds_bucket", labels, 2.0),
        (
            "govledger_upstream_latency_seconds_bucket",
            labels_text({"provider": "p", "le": "+Inf"}),
            3.0,
        ),
        ("govledger_upstream_latency_seconds_sum", labels_text({"provider": "p"}), 1.5),
        ("govledger_upstream_latency_seconds_count", labels_text({"provider": "p"}), 3.0),
        (
            "govledger_requests_total",
            labels_text({"surface": "s", "provider": "p", "model": "m", "outcome": "ok"}),
            3.0,
        ),
    ]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(stream_families(rows)))

    text = generate_latest(registry).decode()

    assert 'govledger_upstream_latency_seconds_bucket{le="0.005",provider="p"} 2.0' in text
    assert 'govledger_upstream_latency_seconds_bucket{le="60.0",provider="p"} 0.0' in text
    assert 'govledger_upstream_latency_seconds_count{provider="p"} 3.0' in text
    assert 'govledger_requests_total{model="m",outcome="ok",provider="p",surface="s"} 3.0' in text


def test_lag_is_the_head_minus_the_position_and_never_negative() -> None:
    family = lag_family(
        [("metrics", "usage", 7), ("audit", "governance", 9)], {"usage": 10, "governance": 4}
    )

    values = {s.labels["consumer"]: s.value for s in family.samples}

    assert values == {"metrics": 3, "audit": 0}


def test_every_dashboard_expression_names_an_exported_metric() -> None:
    dashboard = json.loads((OPS / "grafana-dashboard.json").read_text())
    exported = exported_names()
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]

    used = {name for expr in exprs for name in re.findall(r"govledger_[a-z_]+", expr)}

    assert exprs
    assert used - exported == set()


def test_every_alert_rule_names_an_exported_metric() -> None:
    text = (OPS / "rules.yml").read_text()
    exported = exported_names()

    used = set(re.findall(r"govledger_[a-z_]+", text.split("groups:", 1)[1]))

    assert used - exported == set()
