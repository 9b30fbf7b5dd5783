"""An event-time simulation of adaptive routing through the real admission decision.

Requests arrive at a steady rate; each is admitted by `admit` (the gateway's own pure
decision, reading the health fold in `UsageState`), its chain is walked against simulated
routes (latency, 503 rate, 429 with Retry-After, each a function of event time), and its
`RequestSettled` (with the attempts the chain records) is folded back at its settlement
time. No wall clock, no sockets: a 300 s scenario runs in about a second.
"""

from __future__ import annotations

import heapq
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from govledger.ledger import events as ev
from govledger.projections.policy import KeyPolicy, ProviderKey, Route
from govledger.projections.usage_state import UsageState
from govledger.proxy.enforcement.admission import Admission, admit
from govledger.proxy.enforcement.routing import choose_key, cooled_key, cooled_last

START = 1_780_000_000.0  # event time of the scenario's t = 0


@dataclass(frozen=True)
class Behaviour:
    """How a route answers at some moment."""

    latency_ms: float = 50.0
    error_rate: float = 0.0  # fraction answered 503
    retry_after_s: float | None = None  # every request answered 429 with this Retry-After


Script = Callable[[float], Behaviour]  # seconds since the start -> behaviour


@dataclass
class Sent:
    """One simulated request: when, the first route tried, and every route attempted."""

    t: float
    primary: str
    attempted: list[str]
    ok: bool


@dataclass
class Trace:
    """What a run saw."""

    requests: list[Sent] = field(default_factory=list)
    state: UsageState = field(default_factory=UsageState)

    def share(self, name: str, start: float, end: float) -> float:
        """The fraction of the requests of [start, end) whose first route was `name`."""
        window = [s for s in self.requests if start <= s.t < end]
        return sum(s.primary == name for s in window) / len(window) if window else 0.0

    def attempts_at(self, name: str, start: float, end: float) -> int:
        """How many attempts went to `name` in [start, end)."""
        return sum(s.attempted.count(name) for s in self.requests if start <= s.t < end)


def route(name: str, weight: float = 1.0) -> Route:
    """An openai route with one key."""
    return Route(
        provider=name,
        provider_type="openai",
        base_url=f"https://{name}.example/v1",
        weight=weight,
        allowed_models=("*",),
        keys=(ProviderKey(f"{name}-key", 1.0, ("*",), "secret"),),
        budgets=(),
        rates=(),
    )


def key_policy(routes: list[Route], routing: str = "adaptive") -> KeyPolicy:
    """A key over the routes, with no budget or limit."""
    return KeyPolicy(
        key_id="sim",
        name="sim",
        is_active=True,
        expires_at=None,
        team_id=None,
        customer_id=None,
        routes=tuple(routes),
        budgets=(),
        rates=(),
        mcp_configs=(),
        routing=routing,
    )


def _settled(request_id: str, at: float, attempts: list[dict[str, Any]]) -> ev.RequestSettled:
    last = attempts[-1]
    ok = last["status"] == 200
    return ev.RequestSettled(
        originator_id=uuid.UUID(request_id),
        originator_version=2,
        timestamp=datetime.fromtimestamp(at, UTC),
        request_id=request_id,
        instance="sim",
        incarnation="sim",
        status="ok" if ok else "upstream_error",
        reason="",
        provider=last["provider"] if ok else None,
        provider_key_id=last["key_id"] if ok else None,
        model="m1",
        tokens={"input": 10, "output": 10, "cached": 0, "reasoning": 0},
        cost=Decimal(0),
        price_source="override",
        charges=[],
        rate=[],
        attempts=attempts,
        latency_ms=sum(a["ms"] for a in attempts),
    )


def simulate(
    scripts: dict[str, Script],
    seconds: float,
    rps: float = 20.0,
    seed: int = 7,
    routing: str = "adaptive",
    states: list[UsageState] | None = None,
    lag_s: float = 0.5,
    on_tick: Callable[[float, list[UsageState]], None] | None = None,
    local_cooling: bool = True,
) -> Trace:
    """Run `seconds` of traffic over routes of equal configured weight.

    `states` (optional) are other instances' usage states: they fold the same settled
    events as their usage tails would, each up to `lag_s` late and so out of order; the
    first instance admits every request. `on_tick(now, states)` runs at each new second.
    `local_cooling`: the admitting instance cools a route at once on a 429 with Retry-After
    (as the gateway does); False leaves it to the fold alone (the behaviour before).
    """
    rng = random.Random(seed)
    routes = [route(name) for name in scripts]
    policy = key_policy(routes, routing)
    trace = Trace()
    folds = [trace.state, *(states or [])]
    pending: list[tuple[float, int, int, ev.RequestSettled]] = []
    count = int(seconds * rps)
    second = -1
    for n in range(count):
        t = n / rps
        now = START + t
        while pending and pending[0][0] <= now:
            _, _, index, event = heapq.heappop(pending)
            folds[index].apply(event)
        if on_tick is not None and int(t) != second:
            second = int(t)
            on_tick(now, folds)
        decision = admit(policy, trace.state, "m1", None, 20, lambda r: Decimal(0), _at(now), rng)
        assert isinstance(decision, Admission), decision
        attempts: list[dict[str, Any]] = []
        elapsed = 0.0
        ok = False
        cooling = trace.state.routes.cooling  # as Upstream.send: local cool-downs go last
        chain = decision.chain
        if local_cooling and routing == "adaptive" and cooling.until:
            chain = cooled_last(chain, "m1", cooling, now)
        for chosen in chain:
            avoid = None
            if local_cooling and routing == "adaptive" and cooling.until:
                avoid = cooled_key(chosen, "m1", cooling, now + elapsed / 1000)
            key = choose_key(chosen, "m1", rng, avoid)
            assert key is not None
            behaviour = scripts[chosen.provider](t + elapsed / 1000)
            attempt: dict[str, Any] = {
                "provider": chosen.provider,
                "key_id": key.id,
                "model": "m1",
            }
            if behaviour.retry_after_s is not None:
                attempt.update(status=429, error="retryable status", ms=5.0)
                attempt["retry_after_s"] = behaviour.retry_after_s
                if local_cooling:  # the instance that saw the 429 cools the route at once
                    seen = now + (elapsed + 5.0) / 1000
                    route_id = (chosen.provider, key.id, "m1")
                    cooling.cool(route_id, seen + behaviour.retry_after_s, seen)
            elif rng.random() < behaviour.error_rate:
                attempt.update(status=503, error="retryable status", ms=5.0)
            else:
                attempt.update(status=200, error="", ms=behaviour.latency_ms)
                ok = True
            attempts.append(attempt)
            elapsed += attempt["ms"]
            if ok:
                break
        request_id = str(uuid.UUID(int=rng.getrandbits(128)))
        done = now + elapsed / 1000
        event = _settled(request_id, done, attempts)
        heapq.heappush(pending, (done, n, 0, event))
        for index in range(1, len(folds)):  # another instance's tail: late, out of order
            heapq.heappush(pending, (done + rng.random() * lag_s, n, index, event))
        primary = decision.chain[0].provider
        trace.requests.append(Sent(t, primary, [a["provider"] for a in attempts], ok))
    return trace


def _at(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)


def steady(behaviour: Behaviour = Behaviour()) -> Script:
    """A route that always behaves the same."""
    return lambda t: behaviour


def between(
    start: float, end: float, during: Behaviour, otherwise: Behaviour = Behaviour()
) -> Script:
    """A route that behaves as `during` in [start, end), else as `otherwise`."""
    return lambda t: during if start <= t < end else otherwise
