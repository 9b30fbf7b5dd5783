"""Budget and rate-limit figures from the running gateway's in-memory state.

Pure functions of the rules, the usage state and the time: limit, settled, reserved,
remaining, and the current period. For a rate limit (GCRA) the period is the window that
ends when the limit is whole again; `reserved` is what requests still in flight hold.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from govledger.ledger.entities import GovernanceState
from govledger.ledger.periods import period_of
from govledger.projections.policy import (
    BudgetRule,
    KeyPolicy,
    RateRule,
    every_rate,
    key_budgets,
    owner_budgets,
)
from govledger.projections.usage_state import UsageState

Data = dict[str, Any]
ZERO = Decimal(0)


def budget_figures(rule: BudgetRule, usage: UsageState, now: datetime) -> Data:
    """One budget's figures in the period containing `now`."""
    period = period_of(rule.schedule, now)
    held = usage.usage(rule.id, period.key)
    return {
        "id": rule.id,
        "type": "budget",
        "level": rule.level,
        "owner": rule.owner,
        "mode": rule.mode,
        "reset_duration": str(rule.schedule.duration),
        "limit": rule.limit,
        "settled": held.settled,
        "reserved": held.reserved,
        "remaining": max(ZERO, rule.limit - held.settled - held.reserved),
        "period_start": period.start.isoformat(),
        "period_end": period.end.isoformat(),
    }


def rate_figures(rule: RateRule, usage: UsageState, now: datetime) -> Data:
    """One rate limit's figures: requests or tokens used in its sliding window."""
    at = now.timestamp()
    interval = rule.window_s / rule.capacity
    tat = max(usage.tats.get(rule.id, at), at)
    used = min(rule.capacity, math.ceil((tat - at) / interval - 1e-9))
    reserved = sum(
        item.amount
        for held in usage.inflight.values()
        for item in held.rate
        if item.limit == rule.id
    )
    reserved = min(used, reserved)
    whole_again = datetime.fromtimestamp(tat, UTC)
    return {
        "id": rule.id,
        "type": "rate_limit",
        "level": rule.level,
        "kind": rule.kind,
        "window_seconds": rule.window_s,
        "limit": rule.capacity,
        "settled": used - reserved,
        "reserved": reserved,
        "remaining": rule.capacity - used,
        "period_start": (whole_again - timedelta(seconds=rule.window_s)).isoformat(),
        "period_end": whole_again.isoformat(),
    }


def key_rules(policy: KeyPolicy) -> tuple[list[BudgetRule], list[RateRule]]:
    """Every budget and rate limit that applies to a key: its own, its routes', its owners'."""
    budgets = list(policy.budgets) + [b for r in policy.routes for b in r.budgets]
    rates = list(policy.rates) + [x for r in policy.routes for x in r.rates]
    return budgets, rates


def key_figures(policy: KeyPolicy, usage: UsageState, now: datetime) -> Data:
    """A key's budgets and rate limits with their figures."""
    budgets, rates = key_rules(policy)
    return {
        "virtual_key_id": policy.key_id,
        "name": policy.name,
        "is_active": policy.is_active,
        "team_id": policy.team_id,
        "customer_id": policy.customer_id,
        "at": now.isoformat(),
        "budgets": [budget_figures(b, usage, now) for b in budgets],
        "rate_limits": [rate_figures(r, usage, now) for r in rates],
    }


def all_budgets(state: GovernanceState) -> Iterator[BudgetRule]:
    """Every budget in the ledger, at every level."""
    yield from owner_budgets(state)
    yield from key_budgets(state)


def all_rates(state: GovernanceState) -> Iterator[RateRule]:
    """Every rate limit in the ledger (keys' and their routes')."""
    return every_rate(state)
