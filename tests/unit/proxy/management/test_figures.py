"""Budget and rate-limit figures: pure functions of the rule, the usage state and the time."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from govledger.ledger.charges import BudgetId, LimitId, RateCharge
from govledger.ledger.periods import Schedule, parse_duration
from govledger.projections.policy import BudgetRule, RateRule
from govledger.projections.usage_state import BudgetUsage, Inflight, UsageState
from govledger.proxy.management.figures import budget_figures, rate_figures

NOW = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)
DAILY = Schedule(parse_duration("1d"), True, datetime(2026, 1, 1, tzinfo=UTC))


def test_a_budget_shows_its_current_period_and_what_remains() -> None:
    rule = BudgetRule(BudgetId("team:t#1d"), "team", "t", Decimal("10"), DAILY, "strict")
    usage = UsageState(
        budgets={"team:t#1d": BudgetUsage("2026-03-10T00:00:00+00:00", Decimal("3"), Decimal("2"))}
    )

    shown = budget_figures(rule, usage, NOW)

    assert (shown["settled"], shown["reserved"], shown["remaining"]) == (3, 2, 5)
    assert shown["period_start"] == "2026-03-10T00:00:00+00:00"
    assert shown["period_end"] == "2026-03-11T00:00:00+00:00"


def test_an_earlier_period_counts_nothing_and_remaining_never_goes_below_zero() -> None:
    rule = BudgetRule(BudgetId("team:t#1d"), "team", "t", Decimal("1"), DAILY, "optimistic")
    earlier = {"team:t#1d": BudgetUsage("2026-03-09T00:00:00+00:00", Decimal("9"))}
    over = {"team:t#1d": BudgetUsage("2026-03-10T00:00:00+00:00", Decimal("4"))}

    assert budget_figures(rule, UsageState(budgets=earlier), NOW)["settled"] == 0
    assert budget_figures(rule, UsageState(budgets=over), NOW)["remaining"] == 0


def test_a_rate_limit_counts_its_window_and_what_requests_in_flight_hold() -> None:
    rule = RateRule(LimitId("virtual_key:k#requests"), "virtual_key", "requests", 10, 60.0)
    at = NOW.timestamp()
    held = RateCharge(rule.id, "requests", 1, 10, 60.0)
    usage = UsageState(
        tats={rule.id: at + 18.0},  # 3 requests of 6 s each still in the window
        inflight={"r1": Inflight((), (held,), "gw", "i", at)},
    )

    shown = rate_figures(rule, usage, NOW)

    assert (shown["limit"], shown["settled"], shown["reserved"], shown["remaining"]) == (
        10,
        2,
        1,
        7,
    )
    assert shown["period_end"] == datetime.fromtimestamp(at + 18.0, UTC).isoformat()


def test_an_idle_rate_limit_is_whole() -> None:
    rule = RateRule(LimitId("virtual_key:k#tokens"), "virtual_key", "tokens", 1000, 3600.0)

    shown = rate_figures(rule, UsageState(), NOW)

    assert (shown["settled"], shown["reserved"], shown["remaining"]) == (0, 0, 1000)
