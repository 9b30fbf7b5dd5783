"""`/metrics` gauges of cluster mode: the members seen in the store and this process's
allotments (grants, returns, expiries, lost races)."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from govledger.projections.usage_state import UsageState
from govledger.proxy.server.allotments import Allotter


def cluster_families(allotter: Allotter | None, usage: UsageState) -> list[Metric]:
    """Members alive (and each member's state), this holder's allotment counters and what it
    holds; nothing when allotments are off (one instance)."""
    if allotter is None:
        return []
    stats = allotter.stats
    alive = GaugeMetricFamily(
        "govledger_cluster_members_alive",
        "Instances seen in the store within the lease time (this one included).",
        value=sum(1 for m in stats.members if m.alive),
    )
    member = GaugeMetricFamily(
        "govledger_cluster_member_up",
        "1 for a member seen within the lease time, 0 for one not seen (or stopped).",
        labels=["instance", "holder"],
    )
    for m in stats.members:
        member.add_metric([m.instance, m.holder], 1.0 if m.alive else 0.0)
    events = CounterMetricFamily(
        "govledger_allotment_events",
        "Allotment events this process appended (kind: granted, returned, expired), and "
        "appends another instance won first (conflict).",
        labels=["kind"],
    )
    for kind, value in (
        ("granted", stats.granted),
        ("returned", stats.returned),
        ("expired", stats.expired),
        ("conflict", stats.conflicts),
    ):
        events.add_metric([kind], value)
    held = GaugeMetricFamily(
        "govledger_allotment_held_usd",
        "USD of strict budgets this instance holds (granted, net of returns), per budget.",
        labels=["budget", "period"],
    )
    for (budget, period), amount in list(usage.allotted.items()):
        held.add_metric([budget, period], float(amount))
    return [alive, member, events, held]
