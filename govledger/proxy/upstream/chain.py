"""Calls to upstream providers over a pooled aiohttp session, walking the fallback chain.

Each route of a chain may be of another provider type: `prepare` builds its native request
(or refuses with UntranslatableError, and the chain goes on)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from govledger.projections.policy import ProviderKey, Route
from govledger.projections.route_cooling import RouteCooling
from govledger.proxy.enforcement.routing import choose_key, cooled_key, cooled_last
from govledger.proxy.translate import UntranslatableError
from govledger.proxy.upstream.providers import Prepared

Prepare = Callable[[Route, ProviderKey], Prepared]


@dataclass
class Attempt:
    """One try at one provider: what happened and how long it took."""

    provider: str
    key_id: str | None
    status: int | None
    error: str
    ms: float  # to the response's headers (a stream's first byte; a plain call's whole answer)
    # A stream that answered also gets `stream_ms` (first byte to its end) when it settles.
    model: str = ""  # the model name sent to this provider
    retry_after_s: float | None = None  # a 429's or 503's Retry-After, in seconds

    def as_dict(self) -> dict[str, Any]:
        """The attempt as stored on the settled event (route health folds these)."""
        stored: dict[str, Any] = {
            "provider": self.provider,
            "key_id": self.key_id,
            "status": self.status,
            "error": self.error,
            "ms": self.ms,
            "model": self.model,
        }
        if self.retry_after_s is not None:
            stored["retry_after_s"] = self.retry_after_s
        return stored


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header's delay in seconds (the delta form; an HTTP date is ignored)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if 0 <= seconds <= 86400 else None


@dataclass
class Answer:
    """An upstream response that will not be retried (2xx or a non-retryable 4xx)."""

    route: Route
    key: ProviderKey
    response: aiohttp.ClientResponse
    attempts: list[Attempt]
    prepared: Prepared


class AllAttemptsFailed(Exception):
    """Every route in the chain failed with a retryable error."""

    def __init__(
        self, attempts: list[Attempt], untranslatable: list[UntranslatableError] | None = None
    ) -> None:
        super().__init__("all upstream attempts failed")
        self.attempts = attempts
        self.untranslatable = untranslatable or []

    @property
    def nothing_translatable(self) -> bool:
        """True when no route could take the request in its wire format."""
        return bool(self.untranslatable) and len(self.untranslatable) == len(self.attempts)

    @property
    def all_rate_limited(self) -> bool:
        """True when every attempt was an upstream 429."""
        return bool(self.attempts) and all(a.status == 429 for a in self.attempts)


class Upstream:
    """A pooled HTTP client for upstreams of every provider type."""

    def __init__(
        self,
        timeout_s: float,
        cooling: Callable[[], RouteCooling] | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=10)
        self.session: aiohttp.ClientSession | None = None
        own = RouteCooling()
        self.cooling = cooling or (lambda: own)  # the local cool-downs a 429 starts at once
        self.now = now  # event time, as the health fold's (the process clock)

    async def start(self) -> None:
        """Open the connection pool (no cookie jar: one tenant's cookie is not another's)."""
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=512, ttl_dns_cache=300)
        self.session = aiohttp.ClientSession(
            connector=connector,
            timeout=self.timeout,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def stop(self) -> None:
        """Close the pool."""
        if self.session is not None:
            await self.session.close()

    async def send(
        self,
        chain: tuple[Route, ...],
        model: str,
        rng: random.Random,
        prepare: Prepare,
        adaptive: bool = False,
    ) -> Answer:
        """Try each route in turn; return the first answer that is not retryable. A 429 with
        Retry-After cools its route locally at once; `adaptive` chains then try cooling routes
        (and keys) last, even when admitted before that 429."""
        if self.session is None:  # pragma: no cover - start() runs in the lifespan
            raise RuntimeError("upstream client is not started")
        attempts: list[Attempt] = []
        untranslatable: list[UntranslatableError] = []
        cooling = self.cooling()
        avoiding = adaptive and bool(cooling.until)
        now = self.now() if avoiding else 0.0
        if avoiding:
            chain = cooled_last(chain, model, cooling, now)
        for route in chain:
            avoid = cooled_key(route, model, cooling, now) if avoiding else None
            key = choose_key(route, model, rng, avoid)
            started = time.perf_counter()
            sent = route.upstream_model(model)
            if key is None:
                attempts.append(
                    Attempt(route.provider, None, None, "no usable provider key", 0.0, sent)
                )
                continue
            try:
                prepared = prepare(route, key)
            except UntranslatableError as error:
                untranslatable.append(error)
                attempts.append(
                    Attempt(route.provider, key.id, None, f"untranslatable: {error}", 0, sent)
                )
                continue
            try:
                response = await self.session.post(
                    prepared.url, data=prepared.payload, headers=prepared.headers
                )
            except (TimeoutError, aiohttp.ClientError, OSError) as error:
                ms = (time.perf_counter() - started) * 1000
                kind = "timeout" if isinstance(error, asyncio.TimeoutError) else "connection error"
                attempts.append(Attempt(route.provider, key.id, None, kind, round(ms, 3), sent))
                continue
            ms = round((time.perf_counter() - started) * 1000, 3)
            if response.status >= 500 or response.status == 429:
                retry = retry_after_seconds(response.headers.get("retry-after"))
                response.release()
                if response.status == 429 and retry:
                    seen = self.now()
                    cooling.cool((route.provider, key.id, sent), seen + retry, seen)
                attempts.append(
                    Attempt(
                        route.provider, key.id, response.status, "retryable status", ms, sent, retry
                    )
                )
                continue
            attempts.append(Attempt(route.provider, key.id, response.status, "", ms, sent))
            return Answer(route, key, response, attempts, prepared)
        raise AllAttemptsFailed(attempts, untranslatable)
