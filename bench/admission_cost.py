"""The enforcement core's cost per request, with and without leased allotments.

One key with strict budgets at the key, team and customer levels; each round decides one
request (`admit`), folds its `RequestAdmitted` and its `RequestSettled` into the usage state,
as the hot path does. `--holder` turns allotments on (the state is a holder with a grant
large enough never to be short). Run it under another checkout to compare with it:

    PYTHONPATH=. .venv/bin/python bench/admission_cost.py [--holder] [--rounds 200000]
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from govledger.ledger import events as ev
from govledger.ledger.charges import BudgetId, Charge, stored
from govledger.ledger.periods import Schedule, parse_duration
from govledger.projections.policy import BudgetRule, KeyPolicy, ProviderKey, Route
from govledger.projections.usage_state import UsageState
from govledger.proxy.enforcement.admission import Admission, admit

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
DAY = Schedule(parse_duration("1d"), calendar_aligned=True, anchor=datetime(2026, 1, 1, tzinfo=UTC))
COST = Decimal("0.00002")


def rule(scope: str, level: str) -> BudgetRule:
    """A strict daily budget that never refuses in the run."""
    return BudgetRule(BudgetId(f"{scope}#1d"), level, scope, Decimal(10**9), DAY, "strict")


POLICY = KeyPolicy(
    key_id="k1",
    name="k1",
    is_active=True,
    expires_at=None,
    team_id="t",
    customer_id="c",
    routes=(
        Route(
            "mock",
            "openai",
            "http://x/v1",
            1.0,
            ("*",),
            (ProviderKey("k", 1.0, ("*",), "s"),),
            (),
            (),
        ),
    ),
    budgets=(
        rule("virtual_key:k1", "virtual_key"),
        rule("team:t", "team"),
        rule("customer:c", "customer"),
    ),
    rates=(),
    mcp_configs=(),
)


def one(state: UsageState, rng: random.Random) -> None:
    """Decide, admit and settle one request."""
    decision = admit(POLICY, state, "m1", None, 100, lambda r: COST, NOW, rng)
    assert isinstance(decision, Admission)  # noqa: S101 - the run never refuses
    request = uuid.uuid4()
    state.apply(
        ev.RequestAdmitted(
            originator_version=1,
            instance="bench",
            incarnation="i1",
            key_id="k1",
            team_id="t",
            customer_id="c",
            surface="openai",
            model="m1",
            provider=None,
            reservations=stored(decision.reservations),
            rate=[],
            estimate={},
            headers={},
            originator_id=request,
            timestamp=NOW,
            request_id=request.hex,
        )
    )
    charges = [Charge.of(r, COST) for r in decision.reservations]
    state.apply(
        ev.RequestSettled(
            originator_version=2,
            instance="bench",
            incarnation="i1",
            status="ok",
            reason="",
            provider="mock",
            provider_key_id="k",
            model="m1",
            tokens={},
            cost=COST,
            price_source="override",
            charges=stored(charges),
            rate=[],
            attempts=[],
            latency_ms=1.0,
            originator_id=request,
            timestamp=NOW,
            request_id=request.hex,
        )
    )


def main() -> None:
    """Time the rounds and print microseconds per request."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--holder", action="store_true")
    parser.add_argument("--rounds", type=int, default=200_000)
    args = parser.parse_args()
    state = UsageState()
    if args.holder:
        state.holder = "bench/i1"
        for budget in POLICY.budgets:
            state.allot(budget.id, "2026-12-02T00:00:00+00:00", Decimal(10**9))
    rng = random.Random(1)  # noqa: S311 - routing draws, not secrets
    for _ in range(2000):
        one(state, rng)
    began = time.perf_counter()
    for _ in range(args.rounds):
        one(state, rng)
    took = time.perf_counter() - began
    print(f"{1e6 * took / args.rounds:.2f} us per request (holder={args.holder})")


if __name__ == "__main__":
    main()
