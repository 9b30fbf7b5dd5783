"""Route health: a pure fold of the upstream attempts recorded in `RequestSettled` into
per-route signals and states, in event time.

A route is (provider, provider key, model). Attempts are counted into one-second buckets
of their event's timestamp, so the fold is order-independent: every instance that has read
the same events holds the same buckets. `health(now)` replays the buckets of the horizon up
to the recompute tick at or before `now` (exponential decay, hysteresis, cool-down), so two
instances with the same events compute the same states at the same tick. A bucket counts
from `settle_s` after it ends, so an instance whose tail lags less than that has every
event the tick needs: instances then compute bit-identical health at every tick (bucket
contents are integers, so the order events arrive in changes no sum). Call `health` with a
`now` that does not go back: buckets older than the horizon are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from govledger.ledger import events as ev

RouteId = tuple[str, str, str]  # provider, provider key id, model

HEALTHY, DEGRADED, FAILED, RECOVERING = "healthy", "degraded", "failed", "recovering"
STATES = (HEALTHY, DEGRADED, FAILED, RECOVERING)


@dataclass(frozen=True)
class HealthParams:
    """The fold's parameters (documented with their defaults in docs/routing.md)."""

    bucket_s: float = 0.5  # width of an evidence bucket
    interval_s: float = 0.5  # recompute tick: health is computed at multiples of it
    settle_s: float = 0.5  # evidence counts from this long after its bucket ends (tail lag)
    horizon_s: float = 120.0  # buckets older than this before the tick are dropped
    decay_s: float = 10.0  # time constant of the exponential decay of every signal
    min_samples: float = 5.0  # decayed attempts needed before an error rate moves a state
    degrade_at: float = 0.10  # error rate entering Degraded
    recover_at: float = 0.03  # error rate below which Degraded returns to Healthy
    fail_at: float = 0.50  # error rate entering Failed
    cooldown_s: float = 10.0  # a Failed route waits this long (or its Retry-After) before probes
    probes_needed: int = 3  # successful probes, with no error, that end Recovering
    reference_tokens: int = 100  # a stream's latency: first byte + this many output tokens
    max_routes: int = 1000  # routes tracked at most (a new one beyond it is not counted)


@dataclass
class Bucket:
    """The attempts of one route in one bucket."""

    ok: int = 0
    errors: int = 0
    timeouts: int = 0
    rate_limited: int = 0
    latency_us: int = 0  # summed over successful attempts (integers: any order, same sum)
    retry_until: float = 0.0  # the latest end of a 429's Retry-After


@dataclass(frozen=True)
class RouteHealth:
    """A route's state and decayed signals at a tick."""

    state: str
    since: float  # event time the state was entered (0 if never left Healthy)
    error_rate: float  # decayed errors / decayed attempts (0 without enough samples)
    latency_ms: float | None  # decayed mean of successful attempts, None without any
    samples: float  # decayed attempts
    cooling_until: float  # a Failed route gets no share before this
    rate_limited: float  # decayed 429 answers
    timeouts: float  # decayed timeouts


@dataclass(frozen=True)
class Transition:
    """A state change of a route at an event time, and why."""

    route: RouteId
    at: float
    previous: str
    state: str
    reason: str


@dataclass
class _Replay:
    state: str = HEALTHY
    since: float = 0.0
    errors: float = 0.0
    total: float = 0.0
    latency: float = 0.0
    latency_n: float = 0.0
    rate_limited: float = 0.0
    timeouts: float = 0.0
    cooling_until: float = 0.0
    probes: int = 0
    at: float | None = None  # time the decayed sums are at


def _classify(attempt: Mapping[str, Any]) -> str | None:
    """ok | error | timeout | rate_limited, or None for what says nothing of the route (it
    was not tried, or refused the client's request with a 4xx other than 429)."""
    status = attempt.get("status")
    error = str(attempt.get("error") or "")
    if status is None:
        if error == "timeout" or attempt.get("timeout"):
            return "timeout"
        if error.startswith("connection"):
            return "error"
        return None  # no usable key, untranslatable: the route was not tried
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "error"
    return "ok" if status < 400 else None


@dataclass
class RouteHealthFold:
    """The health projection: buckets per route, and the states replayed from them."""

    params: HealthParams = field(default_factory=HealthParams)
    buckets: dict[RouteId, dict[int, Bucket]] = field(default_factory=dict)
    _cache: tuple[float, dict[RouteId, RouteHealth], list[Transition]] | None = None

    def apply(self, event: ev.LedgerEvent) -> None:
        """Fold a settled request's attempts in; other events say nothing of routes."""
        if isinstance(event, ev.RequestSettled):
            at = event.timestamp.timestamp()
            output = int((event.tokens or {}).get("output") or 0)
            for attempt in event.attempts:
                self.observe(attempt, at, event.model, output)

    def latency_of(self, attempt: Mapping[str, Any], output_tokens: int) -> float:
        """A success's latency sample: a plain call's total; a stream's time to its first byte
        plus its time per output token times `reference_tokens` (comparable across sizes)."""
        first = float(attempt.get("ms") or 0.0)
        streamed = attempt.get("stream_ms")
        if streamed is None or output_tokens <= 0:
            return first
        return first + float(streamed) / output_tokens * self.params.reference_tokens

    def observe(
        self, attempt: Mapping[str, Any], at: float, model: str = "", output_tokens: int = 0
    ) -> None:
        """Count one attempt at event time `at` (`output_tokens`: the request's, if it
        answered)."""
        kind = _classify(attempt)
        key_id = attempt.get("key_id")
        if kind is None or key_id is None:
            return
        route = (str(attempt.get("provider")), str(key_id), str(attempt.get("model") or model))
        if route not in self.buckets and len(self.buckets) >= self.params.max_routes:
            return
        index = math.floor(at / self.params.bucket_s)
        bucket = self.buckets.setdefault(route, {}).setdefault(index, Bucket())
        if kind == "ok":
            bucket.ok += 1
            bucket.latency_us += round(self.latency_of(attempt, output_tokens) * 1000)
        elif kind == "timeout":
            bucket.timeouts += 1
        elif kind == "rate_limited":
            bucket.rate_limited += 1
            retry = attempt.get("retry_after_s")
            if retry is not None:
                bucket.retry_until = max(bucket.retry_until, at + float(retry))
        else:
            bucket.errors += 1

    def tick(self, now: float) -> float:
        """The recompute tick at or before `now`."""
        return math.floor(now / self.params.interval_s) * self.params.interval_s

    def health(self, now: float) -> dict[RouteId, RouteHealth]:
        """Every route's health at the tick of `now` (computed once per tick)."""
        return self._at(self.tick(now))[0]

    def transitions(self, now: float) -> list[Transition]:
        """The state changes replayed up to the tick of `now`, oldest first."""
        return self._at(self.tick(now))[1]

    def _at(self, tick: float) -> tuple[dict[RouteId, RouteHealth], list[Transition]]:
        if self._cache is not None and self._cache[0] == tick:
            return self._cache[1], self._cache[2]
        self._prune(tick)
        health: dict[RouteId, RouteHealth] = {}
        changes: list[Transition] = []
        for route, buckets in self.buckets.items():
            health[route] = self._replay(route, buckets, tick, changes)
        changes.sort(key=lambda t: (t.at, t.route))
        self._cache = (tick, health, changes)
        return health, changes

    def _prune(self, tick: float) -> None:
        oldest = math.floor((tick - self.params.horizon_s) / self.params.bucket_s)
        for route in list(self.buckets):
            buckets = self.buckets[route]
            for index in [i for i in buckets if i < oldest]:
                del buckets[index]
            if not buckets:
                del self.buckets[route]

    def _replay(
        self, route: RouteId, buckets: dict[int, Bucket], tick: float, changes: list[Transition]
    ) -> RouteHealth:
        p = self.params
        r = _Replay()

        def move(state: str, at: float, reason: str) -> None:
            changes.append(Transition(route, at, r.state, state, reason))
            r.state, r.since = state, at
            if state == RECOVERING:  # judged on fresh evidence only
                r.errors = r.total = r.rate_limited = r.timeouts = 0.0
                r.probes = 0

        def decay_to(at: float) -> None:
            if r.at is not None and at > r.at:
                factor = math.exp(-(at - r.at) / p.decay_s)
                r.errors *= factor
                r.total *= factor
                r.latency *= factor
                r.latency_n *= factor
                r.rate_limited *= factor
                r.timeouts *= factor
            r.at = at

        last = math.floor((tick - p.settle_s) / p.bucket_s)  # buckets settled by the tick
        for index in sorted(i for i in buckets if i < last):
            start, end = index * p.bucket_s, (index + 1) * p.bucket_s
            if r.state == FAILED and r.cooling_until <= start:
                move(RECOVERING, r.cooling_until, "cool-down over: probing")
            b = buckets[index]
            decay_to(end)
            bad = b.errors + b.timeouts + b.rate_limited
            r.errors += bad
            r.total += bad + b.ok
            r.rate_limited += b.rate_limited
            r.timeouts += b.timeouts
            r.latency += b.latency_us / 1000
            r.latency_n += b.ok
            rate = r.errors / r.total if r.total >= p.min_samples else 0.0
            if b.retry_until > end and r.state != FAILED:
                r.cooling_until = b.retry_until
                move(FAILED, end, f"429 with Retry-After until {b.retry_until:.3f}")
            elif r.state == FAILED:
                r.cooling_until = max(r.cooling_until, b.retry_until)
            elif r.state == RECOVERING:
                if bad:
                    r.cooling_until = max(end + p.cooldown_s, b.retry_until)
                    move(FAILED, end, "a probe failed")
                else:
                    r.probes += b.ok
                    if r.probes >= p.probes_needed:
                        move(HEALTHY, end, f"{r.probes} probes succeeded")
            elif rate >= p.fail_at:
                r.cooling_until = max(end + p.cooldown_s, b.retry_until)
                move(FAILED, end, f"error rate {rate:.3f} >= {p.fail_at}")
            elif r.state == HEALTHY and rate >= p.degrade_at:
                move(DEGRADED, end, f"error rate {rate:.3f} >= {p.degrade_at}")
            elif r.state == DEGRADED and r.total >= p.min_samples and rate < p.recover_at:
                move(HEALTHY, end, f"error rate {rate:.3f} < {p.recover_at}")
        if r.state == FAILED and r.cooling_until <= tick:
            move(RECOVERING, r.cooling_until, "cool-down over: probing")
        decay_to(tick)
        return RouteHealth(
            state=r.state,
            since=r.since,
            error_rate=r.errors / r.total if r.total >= p.min_samples else 0.0,
            latency_ms=r.latency / r.latency_n if r.latency_n > 1e-9 else None,
            samples=r.total,
            cooling_until=r.cooling_until,
            rate_limited=r.rate_limited,
            timeouts=r.timeouts,
        )
