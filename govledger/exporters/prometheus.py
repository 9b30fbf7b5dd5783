"""`GET /metrics`: the Prometheus exposition of the stream's figures and the live hooks.

Three sources make one scrape:
- counters and latency histograms folded from the usage stream (`gl_metrics`, kept by the
  `metrics` consumer in the projection process), identical in every process and after a
  restart;
- gauges read at scrape time: budgets (limit, settled, reserved of the current period,
  from the in-memory enforcement state) and each tracked consumer's lag in events;
- live histograms of this process's writer: commit latency and batch size.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Histogram, generate_latest, multiprocess
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from govledger.exporters.metrics_fold import COUNTERS, HISTOGRAM_HELP, HISTOGRAMS, le_text
from govledger.exporters.nats_export import counted
from govledger.ledger.entities import GovernanceState
from govledger.ledger.periods import period_of
from govledger.ledger.store import Store
from govledger.projections.database import ViewDatabase
from govledger.projections.policy import BudgetRule, key_budgets, owner_budgets
from govledger.projections.usage_state import UsageState

COUNTER_LABELS = {
    "govledger_requests": ("surface", "provider", "model", "outcome"),
    "govledger_tokens": ("provider", "model", "direction"),
    "govledger_cost_usd": ("provider", "model"),
    "govledger_rejections": ("reason",),
    "govledger_upstream_attempts": ("provider", "outcome"),
    "govledger_user_requests": ("user",),
    "govledger_user_cost_usd": ("user",),
    "govledger_guardrail_decisions": ("policy", "check", "category", "action", "direction"),
    "govledger_unrenderable_events": ("type",),
}
HISTOGRAM_LABELS = {
    "govledger_upstream_latency_seconds": ("provider",),
    "govledger_gateway_overhead_seconds": (),
}
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


class LiveMetrics:
    """Histograms of this process's hot-path hooks (the writer's commits)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.commit_seconds = Histogram(
            "govledger_ledger_commit_seconds",
            "Time of one group commit to the event store, by application.",
            ["app"],
            buckets=COMMIT_BUCKETS,
            registry=self.registry,
        )
        self.batch_events = Histogram(
            "govledger_writer_batch_events",
            "Events per group commit, by application.",
            ["app"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )

    def on_commit(self, app: str, ids: Sequence[int], seconds: float) -> None:
        """The writer's listener: called from its thread after each commit."""
        self.commit_seconds.labels(app).observe(seconds)
        self.batch_events.labels(app).observe(len(ids))


def live_registry(registry: CollectorRegistry, live: LiveMetrics) -> None:
    """Add the live histograms: this process's, or with PROMETHEUS_MULTIPROC_DIR set (several
    worker processes), every process's, merged by prometheus-client's multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return
    for collector in (live.commit_seconds, live.batch_events):
        registry.register(collector)


def stream_families(rows: Iterable[tuple[str, str, float]]) -> list[Metric]:
    """Counter and histogram families from gl_metrics rows (name, labels JSON, value)."""
    counters = {
        name: CounterMetricFamily(name, doc, labels=COUNTER_LABELS[name])
        for name, doc in COUNTERS.items()
    }
    buckets: dict[tuple[str, tuple[str, ...]], dict[str, float]] = {}
    sums: dict[tuple[str, tuple[str, ...]], float] = {}
    for name, labels_json, value in rows:
        labels: dict[str, str] = orjson.loads(labels_json)
        if name.endswith("_total") and name[:-6] in counters:
            family = name[:-6]
            values = [labels.get(n, "") for n in COUNTER_LABELS[family]]
            counters[family].add_metric(values, value)
            continue
        base, _, part = name.rpartition("_")
        if base not in HISTOGRAMS:
            continue
        key = (base, tuple(labels.get(n, "") for n in HISTOGRAM_LABELS[base]))
        if part == "bucket":
            buckets.setdefault(key, {})[labels["le"]] = value
        elif part == "sum":
            sums[key] = value
        else:
            buckets.setdefault(key, {})
    histograms = {
        name: HistogramMetricFamily(name, HISTOGRAM_HELP[name], labels=HISTOGRAM_LABELS[name])
        for name in HISTOGRAMS
    }
    for (base, label_values), found in sorted(buckets.items()):
        bounds = [le_text(b) for b in HISTOGRAMS[base]] + ["+Inf"]
        series = [(le, found.get(le, 0.0)) for le in bounds]
        sum_value = sums.get((base, label_values), 0.0)
        histograms[base].add_metric(list(label_values), series, sum_value)
    return [*counters.values(), *histograms.values()]


def lag_family(positions: Iterable[tuple[str, str, int]], heads: dict[str, int]) -> Metric:
    """Each tracked consumer's lag in events: the log's head minus its position."""
    family = GaugeMetricFamily(
        "govledger_consumer_lag_events",
        "Events in the log a tracked consumer has not processed yet.",
        labels=["consumer", "app"],
    )
    for name, app, position in sorted(positions):
        if app in heads:
            family.add_metric([name, app], max(heads[app] - position, 0))
    return family


def nats_families(rows: Iterable[tuple[str, int, int, int]]) -> list[Metric]:
    """The NATS fan-out's committed counters per log (none until it has published)."""
    families = {
        name: CounterMetricFamily(f"govledger_nats_{name}", help_text, labels=["app"])
        for name, help_text in (
            ("published", "Events JetStream stored from this log."),
            ("duplicates", "Re-sent events JetStream dropped as duplicates (Nats-Msg-Id)."),
            ("unrenderable", "Events published as their degraded event.unrenderable record."),
        )
    }
    for app, published, duplicates, unrenderable in rows:
        families["published"].add_metric([app], published)
        families["duplicates"].add_metric([app], duplicates)
        families["unrenderable"].add_metric([app], unrenderable)
    return list(families.values())


def budget_rules_of(state: GovernanceState, key_cap: int) -> tuple[list[BudgetRule], int]:
    """Customer and team budgets always; key and route budgets only up to `key_cap`.

    Returns the rules and how many key-level budgets the cap left out.
    """
    rules = list(owner_budgets(state))
    keyed = list(key_budgets(state))
    return rules + keyed[:key_cap], max(len(keyed) - key_cap, 0)


def budget_families(
    state: GovernanceState, usage: UsageState, now: datetime, key_cap: int
) -> list[Metric]:
    """Limit, settled and reserved of each budget's current period (read on the loop)."""
    names = ("limit", "settled", "reserved")
    families = {
        n: GaugeMetricFamily(
            f"govledger_budget_{n}_usd",
            f"The {n} amount of a budget's current period, in USD.",
            labels=["budget", "level", "owner"],
        )
        for n in names
    }
    rules, dropped = budget_rules_of(state, key_cap)
    for rule in rules:
        held = usage.usage(rule.id, period_of(rule.schedule, now).key)
        labels = [rule.id, rule.level, rule.owner]
        families["limit"].add_metric(labels, float(rule.limit))
        families["settled"].add_metric(labels, float(held.settled))
        families["reserved"].add_metric(labels, float(held.reserved))
    capped = GaugeMetricFamily(
        "govledger_budget_series_capped",
        "Key-level budgets left out of the budget gauges by the cardinality cap.",
        value=dropped,
    )
    return [*families.values(), capped]


class _Fixed(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


@dataclass
class Sources:
    """Where a scrape reads: callables, because the runtime opens after the app is built."""

    database_url: str
    store: Callable[[], Store]
    governance: Callable[[], GovernanceState]
    usage: Callable[[], UsageState]
    key_cap: int = 0
    now: Callable[[], datetime] = lambda: datetime.now(UTC)  # the process clock's wall time
    extra: Callable[[], list[Metric]] = list  # scrape-time gauges the proxy adds (routes)


class PrometheusExporter:
    """Serves `GET /metrics` from the stream's folds, scrape-time gauges and live hooks."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources
        self.live = LiveMetrics()
        self._lock = threading.Lock()
        self._db = ViewDatabase(sources.database_url)

    def close(self) -> None:
        """Close the scrape's database connection."""
        with self._lock:
            self._db.close()

    def route(self) -> Route:
        """The Starlette route of `GET /metrics`."""
        return Route("/metrics", self.endpoint, methods=["GET"], include_in_schema=False)

    async def endpoint(self, request: Request) -> Response:
        """Render the exposition (database reads off the event loop)."""
        s = self.sources
        budgets = budget_families(s.governance(), s.usage(), s.now(), s.key_cap)
        body = await asyncio.to_thread(self.render, budgets + s.extra())
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    def render(self, extra: list[Metric]) -> bytes:
        """The exposition text: stream folds, consumer lag, `extra` and the live histograms."""
        with self._lock:
            rows, positions, nats = self._read()
        store = self.sources.store()
        heads = {app: store.max_position(app) for app in ("governance", "usage")}
        registry = CollectorRegistry(auto_describe=False)
        families = [*stream_families(rows), lag_family(positions, heads), *nats_families(nats)]
        registry.register(_Fixed([*families, *extra]))
        live_registry(registry, self.live)
        return generate_latest(registry)

    def _read(self) -> tuple[list[Any], list[Any], list[tuple[str, int, int, int]]]:
        with self._db.transaction() as cur:
            cur.execute("SELECT name, labels, value FROM gl_metrics")
            rows = [(str(r[0]), str(r[1]), float(r[2])) for r in cur.fetchall()]
            cur.execute("SELECT view, app, position FROM gl_tracking")
            positions = [(str(r[0]), str(r[1]), int(r[2])) for r in cur.fetchall()]
            nats = counted(cur)
        return rows, positions, nats
