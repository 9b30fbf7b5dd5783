"""Cool-downs seen locally: a 429's Retry-After applied at once by the instance that saw it.

The health fold counts a 429 only once its bucket has settled (up to `bucket_s + settle_s`
later), so that every instance replays the same evidence. The instance that received the 429
does not wait: it cools the route here until the Retry-After ends. The attempt is still
recorded on `RequestSettled`, so the fold (and every other instance) reaches the same Failed
state one tick later; this overlay only closes the gap on the instance that saw it first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RouteId = tuple[str, str, str]  # provider, provider key id, model


@dataclass
class RouteCooling:
    """Routes cooled by this instance's own observations, each until an event time."""

    max_routes: int = 1000
    longest_s: float = 120.0  # a cool-down lasts at most this (the fold's horizon: beyond it
    # the fold has forgotten the 429 too), whatever Retry-After an upstream sends
    until: dict[RouteId, float] = field(default_factory=dict)
    version: int = 0  # grows with each new cool-down (memos of health compare it)

    def cool(self, route: RouteId, until: float, now: float) -> bool:
        """Cool `route` until `until` (a longer cool-down already held wins); True if changed."""
        until = min(until, now + self.longest_s)
        if until <= now or until <= self.until.get(route, 0.0):
            return False
        if route not in self.until and len(self.until) >= self.max_routes:
            self.expire(now)
            if len(self.until) >= self.max_routes:
                return False
        self.until[route] = until
        self.version += 1
        return True

    def cooling(self, route: RouteId, now: float) -> bool:
        """True while `route` is cooled by a local observation."""
        return self.until.get(route, 0.0) > now

    def active(self, now: float) -> dict[RouteId, float]:
        """The routes cooling at `now`, with the end of their cool-down."""
        return {route: end for route, end in self.until.items() if end > now}

    def expire(self, now: float) -> None:
        """Forget the cool-downs that are over."""
        self.until = self.active(now)
