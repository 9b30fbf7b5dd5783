"""Route health: a pure fold of the upstream attempts recorded in `RequestSettled` into
per-route signals and states, in event time.

A route is (provider, provider key, model). Attempts are counted into buckets (`bucket_s`)
of their event's timestamp, so the fold is order-independent: every instance that has read
the same events holds the same buckets. `health(now)` replays the buckets of the horizon up
to the recompute tick at or before `now` (exponential decay, hysteresis, cool-down), so two
instances with the same events compute the same states at the same tick. A bucket counts
from `settle_s` after it ends, so an instance whose tail lags less than that has every
event the tick needs: instances then compute bit-identical health at every tick (bucket
contents are integers, so the order events arrive in changes no sum). Call `health` with a
`now` that does not go back: buckets older than the horizon are dropped. `health` also lays
this instance's own cool-downs (`route_cooling.py`) over the replay; `replayed` does not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from govledger.ledger import events as ev
from govledger.ledger.route_params import HealthParams
from govledger.projections.route_cooling import RouteCooling, RouteId

HEALTHY, DEGRADED, FAILED, RECOVERING = "healthy", "degraded", "failed", "recovering"
STATES = (HEALTHY, DEGRADED, FAILED, RECOVERING)


@dataclass
class Bucket:
    """The attempts of one route in one bucket."""

    ok: int = 0
    errors: int = 0
    timeouts: int = 0
    rate_limited: int = 0
    latency_us: int = 0  # summed over successful attempts (integers: any order, same sum)
    retry_until: float = 0.0  # the latest end of a 429's Retry-After
    plain: int = 0  # successful plain calls, and their total latency summed
    plain_us: int = 0
    streams: int = 0  # answered streams, and their time to first token summed
    first_us: int = 0
    tokened: int = 0  # answered streams with output tokens, and their time per token summed
    per_token_ns: int = 0


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
    first_token_ms: float | None = None  # streams: decayed mean time to the first token
    per_token_ms: float | None = None  # streams: decayed mean time per output token after it
    plain_ms: float | None = None  # plain calls: decayed mean total time


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
    plain: float = 0.0
    plain_n: float = 0.0
    first: float = 0.0
    first_n: float = 0.0
    per_token: float = 0.0
    per_token_n: float = 0.0
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
    cooling: RouteCooling = field(default_factory=RouteCooling)  # this instance's own 429s
    _cache: tuple[float, dict[RouteId, RouteHealth], list[Transition]] | None = None
    _overlaid: tuple[float, int, dict[RouteId, RouteHealth]] | None = None

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
            ms = float(attempt.get("ms") or 0.0)
            streamed = attempt.get("stream_ms")
            if streamed is None:
                bucket.plain += 1
                bucket.plain_us += round(ms * 1000)
            else:
                bucket.streams += 1
                bucket.first_us += round(ms * 1000)
                if output_tokens > 0:
                    bucket.tokened += 1
                    bucket.per_token_ns += round(float(streamed) * 1e6 / output_tokens)
        elif kind == "timeout":
            bucket.timeouts += 1
        elif kind == "rate_limited":
            bucket.rate_limited += 1
            retry = attempt.get("retry_after_s")
            if retry is not None:
                bucket.retry_until = max(bucket.retry_until, at + float(retry))
        else:
            bucket.errors += 1

    def configure(self, params: HealthParams) -> None:
        """Take new parameters (the settings changed); a new bucket width restarts the
        evidence, since the buckets held no longer fit it."""
        if params == self.params:
            return
        if params.bucket_s != self.params.bucket_s:
            self.buckets = {}
        self.params = params
        self.cooling.max_routes, self.cooling.longest_s = params.max_routes, params.horizon_s
        self._cache = self._overlaid = None

    def tick(self, now: float) -> float:
        """The recompute tick at or before `now`."""
        return math.floor(now / self.params.interval_s) * self.params.interval_s

    def health(self, now: float) -> dict[RouteId, RouteHealth]:
        """Every route's health at the tick of `now` (replayed once per tick), with the
        routes this instance cooled itself (a 429 it saw) Failed until their Retry-After."""
        tick = self.tick(now)
        version = self.cooling.version
        if self._overlaid is not None and self._overlaid[:2] == (tick, version):
            return self._overlaid[2]
        replayed = self._at(tick)[0]
        self.cooling.expire(tick)  # over ones go, so the chain stops checking once all are
        cooled = self.cooling.until
        health = replayed
        if cooled:
            health = dict(replayed)
            for route, until in cooled.items():
                held = health.get(route)
                if held is None:
                    health[route] = RouteHealth(FAILED, tick, 0.0, None, 0.0, until, 1.0, 0.0)
                elif held.state != FAILED or held.cooling_until < until:
                    since = held.since if held.state == FAILED else tick
                    cooling_until = max(held.cooling_until, until)
                    health[route] = replace(
                        held, state=FAILED, since=since, cooling_until=cooling_until
                    )
        self._overlaid = (tick, version, health)
        return health

    def replayed(self, now: float) -> dict[RouteId, RouteHealth]:
        """Every route's health replayed from the evidence alone (the same on every instance
        that read the same events), at the tick of `now`."""
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
                r.plain *= factor
                r.plain_n *= factor
                r.first *= factor
                r.first_n *= factor
                r.per_token *= factor
                r.per_token_n *= factor
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
            r.plain += b.plain_us / 1000
            r.plain_n += b.plain
            r.first += b.first_us / 1000
            r.first_n += b.streams
            r.per_token += b.per_token_ns / 1e6
            r.per_token_n += b.tokened
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
            latency_ms=_mean(r.latency, r.latency_n),
            samples=r.total,
            cooling_until=r.cooling_until,
            rate_limited=r.rate_limited,
            timeouts=r.timeouts,
            first_token_ms=_mean(r.first, r.first_n),
            per_token_ms=_mean(r.per_token, r.per_token_n),
            plain_ms=_mean(r.plain, r.plain_n),
        )


def _mean(total: float, count: float) -> float | None:
    return total / count if count > 1e-9 else None
