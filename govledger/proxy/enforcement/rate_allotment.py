"""Rate limits across instances: one shared GCRA book per limit (the holder's side of it is
`projections/rate_grants.py`).

A limit's book is a stream of the usage log (`AllotmentGranted` / `AllotmentReturned`); its
state is a theoretical arrival time TAT. A grant of `k` units at time `g` is allowed iff
`max(TAT, g) + k*T - tau <= g` (T = window / capacity, tau = window) and moves TAT to
`max(TAT, g) + k*T`: the GCRA of one instance, applied to grants instead of requests. A
holder admits only within units it was granted, each usable for `use_s` after its grant, and
gives unused units back, which moves TAT back exactly as if they had never been granted. So
the units admitted by all holders in any interval of length L are at most what one instance
would admit, `capacity + L/T`, plus `use_s/T` (a unit granted at `g` may be used up to `g +
use_s`). There is no window, so no window boundary.

Returns must not give back more than the grant added: for each open grant the book keeps
`since`, the TAT that the later grants alone would have made, and a return of `u` units of
grant `m` sets TAT to `max(TAT - u*T, since_m)` (exact). Open grants older than a bound are
dropped (a later return of one gives no credit: safe), so a book's memory is bounded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

EPSILON = 1e-9
KEEP_S = 60.0  # open grants older than this (and at least 10 x use_s) are dropped


@dataclass
class OpenGrant:
    """A grant the book may still see given back: its units, time, and the later grants' TAT."""

    units: int
    at: float
    since: float = -math.inf


@dataclass
class RateBook:
    """One rate limit's shared GCRA, folded from its events in version order."""

    capacity: int
    window_s: float
    version: int = 0
    tat: float = -math.inf
    open: dict[int, OpenGrant] = field(default_factory=dict)  # grant version -> grant

    @property
    def interval(self) -> float:
        """T: seconds one unit pushes the TAT."""
        return self.window_s / self.capacity

    def free(self, at: float) -> int:
        """The most units a grant at `at` may have."""
        room = at + self.window_s - max(self.tat, at)
        return max(math.floor(room / self.interval + EPSILON), 0)

    def ready_at(self, units: int, at: float) -> float:
        """The earliest time a grant of `units` would be allowed (as the book stands)."""
        return max(max(self.tat, at) + units * self.interval - self.window_s, at)

    def granted(self, units: int, at: float) -> None:
        """Fold a grant in (it becomes the book's next version)."""
        push = units * self.interval
        for grant in self.open.values():
            grant.since = max(grant.since, at) + push
        self.tat = max(self.tat, at) + push
        self.version += 1
        self.open[self.version] = OpenGrant(units, at)

    def returned(self, grant: int, units: int) -> None:
        """Fold a return of `units` unused of the grant at version `grant` in."""
        self.version += 1
        given = self.open.pop(grant, None)
        if given is None or units <= 0:  # unknown or dropped: no credit (never more than due)
            return
        back = min(units, given.units) * self.interval
        for version, other in self.open.items():
            if version < grant:
                other.since = max(other.since - back, given.since)
        self.tat = max(self.tat - back, given.since)

    def tat_granted(self, units: int, at: float) -> float:
        """The TAT a grant of `units` at `at` would leave (recorded in its event)."""
        return max(self.tat, at) + units * self.interval

    def tat_returned(self, grant: int, units: int) -> float:
        """The TAT a return of `units` of `grant` would leave (recorded in its event)."""
        given = self.open.get(grant)
        if given is None or units <= 0:
            return self.tat
        return max(self.tat - min(units, given.units) * self.interval, given.since)

    def prune(self, now: float, use_s: float) -> None:
        """Drop open grants too old to be given back (bounded memory)."""
        keep = max(KEEP_S, 10 * use_s)
        for version in [v for v, g in self.open.items() if g.at < now - keep]:
            del self.open[version]


def grant_units(
    book: RateBook, at: float, deficit: int, demand: int, members: int, ahead: int = 0
) -> int:
    """How many units to grant now: at least `deficit` (or none, if that does not fit), else
    the queued `demand` or `ahead` (about a second of the holder's recent use), never more
    than a fair share of what is free among `members`."""
    free = book.free(at)
    if deficit > free:
        return 0
    share = free // max(members, 1)
    return min(free, max(deficit, min(max(demand, ahead), share)))


def retry_after(ready_at: float, now: float) -> int:
    """Whole seconds until `ready_at` (at least 1)."""
    return max(math.ceil(ready_at - now - EPSILON), 1)
