"""The route health fold: order-independent buckets, decay, hysteresis, cool-down, recovery."""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from govledger.ledger import events as ev
from govledger.ledger.route_params import HealthParams
from govledger.projections.route_health import (
    DEGRADED,
    FAILED,
    HEALTHY,
    RECOVERING,
    RouteHealthFold,
)

T0 = 1_780_000_000.0
ROUTE = ("p", "k", "m")
P = HealthParams()


def attempt(status: int | None, error: str = "", ms: float = 50.0, **extra: Any) -> dict[str, Any]:
    """An attempt at route ROUTE as the chain records it."""
    return {"provider": "p", "key_id": "k", "model": "m", "status": status, "error": error,
            "ms": ms, **extra}  # fmt: skip


OK, ERROR = attempt(200), attempt(503, "retryable status")


def feed(
    fold: RouteHealthFold, start: float, seconds: int, per_second: list[dict[str, Any]]
) -> None:
    """Each second from `start`, the given attempts spread over the second."""
    for s in range(seconds):
        for i, item in enumerate(per_second):
            fold.observe(item, start + s + i / (len(per_second) + 1))


def state_at(fold: RouteHealthFold, t: float) -> str:
    """The route's state at event time t."""
    return fold.health(t)[ROUTE].state


def test_old_attempts_without_a_model_take_the_events_model_and_untried_ones_are_skipped() -> None:
    fold = RouteHealthFold()
    old = {"provider": "p", "key_id": "k", "status": 200, "error": "", "ms": 10.0}
    event = ev.RequestSettled(
        originator_id=uuid.uuid4(), originator_version=2,
        timestamp=datetime.fromtimestamp(T0, UTC), request_id="r", instance="i",
        incarnation="x", status="ok", reason="", provider="p", provider_key_id="k", model="m",
        tokens={}, cost=Decimal(0), price_source="zero", charges=[], rate=[],
        attempts=[old, attempt(None, "no usable provider key"),
                  attempt(None, "untranslatable: tools")], latency_ms=10.0,
    )  # fmt: skip
    fold.apply(event)

    health = fold.health(T0 + 5)
    assert list(health) == [ROUTE]
    assert health[ROUTE].latency_ms == 10.0
    assert 0.6 < health[ROUTE].samples < 0.7  # one attempt, decayed over 4 s (tau 10 s)


def test_errors_degrade_with_hysteresis_and_recover_below_the_lower_threshold() -> None:
    fold = RouteHealthFold()
    feed(fold, T0, 30, [OK] * 10)
    assert state_at(fold, T0 + 30) == HEALTHY
    feed(fold, T0 + 30, 30, [OK] * 17 + [ERROR] * 3)  # 15 % errors, above degrade_at
    assert state_at(fold, T0 + 60) == DEGRADED
    feed(fold, T0 + 60, 60, [OK] * 19 + [ERROR])  # 5 %: between the thresholds, so it stays
    assert state_at(fold, T0 + 120) == DEGRADED
    feed(fold, T0 + 120, 30, [OK] * 10)
    assert state_at(fold, T0 + 150) == HEALTHY

    healthy = RouteHealthFold()
    feed(healthy, T0, 60, [OK] * 19 + [ERROR])  # 5 % from the start never degrades
    assert state_at(healthy, T0 + 60) == HEALTHY


def test_half_errors_fail_cool_down_then_probes_bring_it_back() -> None:
    fold = RouteHealthFold()
    feed(fold, T0, 10, [OK, ERROR, ERROR])
    assert state_at(fold, T0 + 10) == FAILED
    until = fold.health(T0 + 10)[ROUTE].cooling_until
    assert until > T0 + P.cooldown_s
    assert state_at(fold, until + 1) == RECOVERING
    feed(fold, until + 1, 2, [OK, OK])
    assert state_at(fold, until + 4) == HEALTHY
    kinds = [(c.previous, c.state) for c in fold.transitions(until + 4)]
    assert kinds == [(HEALTHY, FAILED), (FAILED, RECOVERING), (RECOVERING, HEALTHY)]


def test_a_429_with_retry_after_fails_at_once_until_it_ends() -> None:
    fold = RouteHealthFold()
    feed(fold, T0, 5, [OK] * 5)
    fold.observe(attempt(429, "retryable status", retry_after_s=30), T0 + 5.2)

    assert state_at(fold, T0 + 7) == FAILED
    assert fold.health(T0 + 7)[ROUTE].cooling_until == T0 + 35.2
    assert state_at(fold, T0 + 35) == FAILED
    assert state_at(fold, T0 + 36) == RECOVERING


def test_timeouts_count_as_errors() -> None:
    fold = RouteHealthFold()
    feed(fold, T0, 10, [OK, attempt(None, "timeout", ms=10_000)])

    assert state_at(fold, T0 + 10) == FAILED
    assert fold.health(T0 + 10)[ROUTE].timeouts > 0


attempts = st.sampled_from(
    [OK, ERROR, attempt(None, "timeout"), attempt(429, "x", retry_after_s=3), attempt(200, ms=900)]
)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 60), attempts), max_size=200), st.randoms())
def test_the_fold_does_not_depend_on_the_order_events_arrive_in(
    items: list[tuple[float, dict[str, Any]]], rng: random.Random
) -> None:
    one, two = RouteHealthFold(), RouteHealthFold()
    for at, item in items:
        one.observe(item, T0 + at)
    shuffled = list(items)
    rng.shuffle(shuffled)
    for at, item in shuffled:
        two.observe(item, T0 + at)

    assert one.health(T0 + 62) == two.health(T0 + 62)
    assert one.transitions(T0 + 62) == two.transitions(T0 + 62)


RECOVERY_BOUND_S = (
    20  # the longest Retry-After drawn below
    + P.cooldown_s
    + P.decay_s * math.log(1 / P.recover_at)  # a fully errored decayed rate falling below it
    + P.settle_s
    + 3 * P.bucket_s
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 3), st.sampled_from([None, 1.0, 5.0, 20.0])),
        min_size=1,
        max_size=60,
    )
)
def test_recovery_happens_within_a_bounded_time_after_errors_stop(
    history: list[tuple[int, int, float | None]],
) -> None:
    """Any history of up to 60 s (3 attempts a second, some errors, some 429s); then only
    successes at the same rate: Healthy again within RECOVERY_BOUND_S."""
    fold = RouteHealthFold()
    for second, (errors, timeouts, retry) in enumerate(history):
        at = T0 + second
        bad = [ERROR] * errors + [attempt(None, "timeout")] * timeouts
        if retry is not None:
            bad.append(attempt(429, "retryable status", retry_after_s=retry))
        for i, item in enumerate((bad + [OK, OK, OK])[:3]):
            fold.observe(item, at + i / 4)
    stop = T0 + len(history)
    for second in range(int(RECOVERY_BOUND_S) + 1):
        for i in range(3):
            fold.observe(OK, stop + second + i / 4)

    assert state_at(fold, stop + RECOVERY_BOUND_S) == HEALTHY


def test_a_client_error_says_nothing_of_the_route_and_the_routes_tracked_are_capped() -> None:
    fold = RouteHealthFold(HealthParams(max_routes=2))
    fold.observe(attempt(404, model="made-up"), T0)
    assert fold.buckets == {}
    for name in ("m1", "m2", "m3"):
        fold.observe(attempt(200, model=name), T0)
    assert sorted(route[2] for route in fold.buckets) == ["m1", "m2"]


def test_a_streams_latency_is_its_first_byte_plus_its_time_per_token_for_100_tokens() -> None:
    fold = RouteHealthFold()
    plain = attempt(200, ms=800.0)
    stream = attempt(200, ms=100.0, stream_ms=1400.0)  # 200 tokens in 1.4 s: 7 ms a token

    assert fold.latency_of(plain, 50) == 800.0  # a plain call: its total
    assert fold.latency_of(stream, 200) == 100.0 + 7.0 * 100
    assert fold.latency_of(stream, 0) == 100.0  # no token count: its first byte only


def test_streams_keep_time_to_first_token_and_time_per_output_token_apart() -> None:
    fold = RouteHealthFold()
    fold.observe(attempt(200, ms=100.0, stream_ms=900.0), T0, "m", 90)  # 10 ms per token
    fold.observe(attempt(200, ms=300.0, stream_ms=300.0), T0 + 0.1, "m", 10)  # 30 ms per token
    fold.observe(attempt(200, ms=40.0, stream_ms=5.0), T0 + 0.2, "m", 0)  # no tokens: TTFT only

    health = fold.health(T0 + 2)[ROUTE]
    assert health.first_token_ms is not None and health.per_token_ms is not None
    assert 146 < health.first_token_ms < 148  # the three streams' first tokens, decayed alike
    assert 19.9 < health.per_token_ms < 20.1  # per token: 10 and 30, normalised by tokens
    assert health.plain_ms is None
    # The comparable figure the weights use: each stream's first token + reference_tokens
    # (100) at its own rate, averaged: (1100 + 3300 + 40) / 3.
    assert health.latency_ms is not None and math.isclose(health.latency_ms, 1480.0)


def test_a_plain_call_counts_its_total_and_no_stream_figure() -> None:
    fold = RouteHealthFold()
    fold.observe(attempt(200, ms=250.0), T0, "m", 500)
    health = fold.health(T0 + 2)[ROUTE]
    assert (health.plain_ms, health.first_token_ms, health.per_token_ms) == (250.0, None, None)
    assert health.latency_ms == 250.0
