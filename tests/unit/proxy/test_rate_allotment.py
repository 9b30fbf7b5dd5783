"""Rate limits across instances as pure decisions: a shared GCRA book per limit, grants usable
for `use_s`, unused units given back. Three instances, any interleaving, deaths and lapses:
the units admitted in every interval stay within one instance's GCRA bound plus use_s / T."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from govledger.ledger import events as ev
from govledger.ledger.charges import LimitId, RateCharge, stored
from govledger.projections.policy import RateRule
from govledger.projections.rate_grants import RateGrants, rate_key, rate_terms
from govledger.projections.usage_state import UsageState
from govledger.proxy.enforcement.admission import limit_refusal, rate_charge
from govledger.proxy.enforcement.rate_allotment import RateBook, grant_units, retry_after

HOLDERS = ("a/1", "b/1", "c/1")
EPS = 1e-6


def bound(capacity: int, window_s: float, span: float, use_s: float) -> float:
    """One instance's GCRA bound over an interval of `span` seconds, plus use_s / T."""
    interval = window_s / capacity
    return capacity + (span + use_s) / interval + EPS


@dataclass
class Holder:
    """One instance: its grants, its requests in flight (estimate, actual), alive or not."""

    grants: RateGrants = field(default_factory=RateGrants)
    inflight: dict[str, tuple[int, int]] = field(default_factory=dict)
    alive: bool = True


@dataclass
class Cluster:
    """Three instances sharing one book (appends serialised, as the store's versions do)."""

    capacity: int
    window_s: float
    use_s: float
    book: RateBook = field(init=False)
    holders: dict[str, Holder] = field(default_factory=dict)
    admitted: list[tuple[float, str]] = field(default_factory=list)  # (time, request)
    net: dict[str, int] = field(default_factory=dict)  # request -> units it holds net
    number: int = 0

    def __post_init__(self) -> None:
        self.book = RateBook(self.capacity, self.window_s)
        self.holders = {h: Holder() for h in HOLDERS}

    def request(self, name: str, units: int, actual: int, now: float) -> bool:
        """Admit `units` on one instance if its grants cover it, asking the book once."""
        holder = self.holders[name]
        if not holder.alive or units > self.capacity:  # GCRA alone refuses more than capacity
            return False
        usable = holder.grants.usable(now)
        if usable < units:
            queued = units - usable + self.number % 4  # others waiting ask for more
            granted = grant_units(self.book, now, units - usable, queued, 3)
            if granted <= 0:
                ready = self.book.ready_at(units - usable, now)
                probe = RateBook(self.capacity, self.window_s, self.book.version, self.book.tat)
                assert probe.free(ready) >= units - usable  # honest: it would grant then
                return False
            self.book.granted(granted, now)
            holder.grants.add(self.book.version, granted, now + self.use_s)
        if holder.grants.usable(now) < units:
            return False
        self.number += 1
        request = f"r{self.number}"
        assert holder.grants.take(request, units, now) == 0
        holder.inflight[request] = (units, actual)
        self.admitted.append((now, request))
        self.net[request] = units
        return True

    def settle(self, name: str) -> None:
        """The oldest request in flight on an instance settles with its actual count."""
        holder = self.holders[name]
        if not holder.alive or not holder.inflight:
            return
        request, (units, actual) = next(iter(holder.inflight.items()))
        del holder.inflight[request]
        before = sum(g.left for g in holder.grants.grants.values())
        holder.grants.refund(request, units - actual)
        self.net[request] -= sum(g.left for g in holder.grants.grants.values()) - before
        holder.grants.settled(request)

    def tick(self, name: str, now: float) -> None:
        """An instance gives back the unused units of its lapsed grants."""
        holder = self.holders[name]
        if holder.alive:
            for grant, units in holder.grants.lapsed(now).items():
                self.book.returned(grant, units)

    def kill(self, name: str) -> None:
        """kill -9: nothing is given back; its grants lapse unseen."""
        self.holders[name].alive = False


STEPS = st.lists(
    st.tuples(
        st.sampled_from(("request", "request", "request", "settle", "tick", "kill")),
        st.sampled_from(HOLDERS),
        st.integers(min_value=1, max_value=8),
        st.one_of(st.floats(min_value=0, max_value=1.5), st.sampled_from((5.0, 61.0, 200.0))),
    ),
    max_size=150,
)


@settings(max_examples=400, deadline=None)
@given(
    kind=st.sampled_from(("requests", "tokens")),
    capacity=st.integers(min_value=1, max_value=30),
    window_s=st.sampled_from((1.0, 4.0, 60.0)),
    use_s=st.sampled_from((0.5, 2.0)),
    steps=STEPS,
    seed=st.integers(min_value=0, max_value=7),
)
def test_three_instances_never_pass_one_instances_gcra_bound_plus_the_use_allowance(
    kind: str,
    capacity: int,
    window_s: float,
    use_s: float,
    steps: list[tuple[str, str, int, float]],
    seed: int,
) -> None:
    """Whatever the interleaving, lapses, refunds and deaths: in every interval [a, b] the
    units admitted (net of tokens given back) are at most capacity + (b - a + use_s) / T."""
    cluster = Cluster(capacity, window_s, use_s)
    now = 1_000_000.0
    for action, name, size, dt in steps:
        now += dt
        if action == "request":
            units = 1 if kind == "requests" else size
            actual = units if kind == "requests" else (size * (seed + 1)) % (units + 1)
            cluster.request(name, units, actual, now)
        elif action == "settle":
            cluster.settle(name)
        elif action == "tick":
            cluster.tick(name, now)
        else:
            cluster.kill(name)
    times = cluster.admitted
    for i, (start, _) in enumerate(times):
        total = 0
        for end, request in times[i:]:
            total += cluster.net[request]
            assert total <= bound(capacity, window_s, end - start, use_s), (start, end, total)


@settings(max_examples=300, deadline=None)
@given(
    capacity=st.integers(min_value=1, max_value=20),
    window_s=st.sampled_from((1.0, 10.0)),
    grants=st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=5),
            st.floats(min_value=0, max_value=3),
            st.integers(min_value=0, max_value=5),
        ),
        max_size=30,
    ),
    order=st.randoms(use_true_random=False),
)
def test_a_return_moves_the_tat_back_exactly_as_if_the_units_were_never_granted(
    capacity: int, window_s: float, grants: list[tuple[int, float, int]], order: random.Random
) -> None:
    """Grants at any times, returns in any order: the TAT equals the GCRA of the grants net
    of what was given back (never lower: a return never frees more than it took)."""
    book = RateBook(capacity, window_s)
    now, made = 0.0, []
    for units, dt, back in grants:
        now += dt
        recorded = book.tat_granted(units, now)  # what the grant's event carries
        book.granted(units, now)
        assert book.tat == recorded
        made.append((book.version, units, now, min(back, units)))
    returns = list(made)
    order.shuffle(returns)
    for version, _, _, back in returns:
        recorded = book.tat_returned(version, back)  # what the return's event carries
        book.returned(version, back)
        assert book.tat == recorded
    tat = -math.inf
    for _, units, at, back in made:
        tat = max(tat, at) + (units - back) * window_s / capacity
    assert book.tat == tat or math.isclose(book.tat, tat, abs_tol=1e-6)


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(min_value=1, max_value=20),
    window_s=st.sampled_from((1.0, 60.0, 3600.0)),
    used=st.integers(min_value=0, max_value=20),
    want=st.integers(min_value=1, max_value=5),
    dt=st.floats(min_value=0, max_value=100),
)
def test_retry_after_is_when_the_book_would_grant_again(
    capacity: int, window_s: float, used: int, want: int, dt: float
) -> None:
    """Retry-After: not before the book would grant, and no later than a second after."""
    book = RateBook(capacity, window_s)
    book.granted(min(used, capacity), 0.0)
    now = dt
    if want > capacity or book.free(now) >= want:
        return
    ready = book.ready_at(want, now)
    wait = retry_after(ready, now)
    assert book.free(now + wait) >= want
    assert wait == 1 or book.free(now + wait - 1) < want


def test_twenty_per_hour_grants_twenty_at_once_then_one_each_180_s() -> None:
    """A burst gets the capacity (as one instance's GCRA would), then one unit per T."""
    book = RateBook(20, 3600.0)
    assert grant_units(book, 0.0, 1, 300, 1) == 20
    book.granted(20, 0.0)
    assert grant_units(book, 1.0, 1, 300, 3) == 0
    assert retry_after(book.ready_at(1, 1.0), 1.0) == 179
    assert grant_units(book, 180.0, 1, 300, 3) == 1


def test_a_fair_share_among_members() -> None:
    """With three members alive, a grant takes a third of what is free, at least the deficit."""
    book = RateBook(20, 3600.0)
    assert grant_units(book, 0.0, 1, 100, 3) == 6
    assert grant_units(book, 0.0, 8, 100, 3) == 8
    assert grant_units(book, 0.0, 21, 100, 3) == 0


def test_the_book_keeps_only_recent_open_grants() -> None:
    """Bounded memory: a day of grants leaves only the last minute's open grants."""
    book = RateBook(100, 60.0)
    for second in range(86_400):
        book.granted(1, float(second))
        book.prune(float(second), 2.0)
    assert len(book.open) <= 61
    tat = book.tat
    book.returned(1, 1)  # a return of a dropped grant gives no credit
    assert book.tat == tat


def test_a_holder_drops_lapsed_grants_and_returns_their_unused_units() -> None:
    """Bounded memory on the holder: lapsed grants leave, with what they did not use."""
    grants = RateGrants()
    for version in range(1, 1001):
        grants.add(version, 3, float(version))
        grants.take(f"r{version}", 2, float(version))
        grants.settled(f"r{version}")
    due = grants.lapsed(2000.0)
    assert due == {v: 1 for v in range(1, 1001)}
    assert not grants.grants and not grants.taken


def test_a_grant_with_a_request_in_flight_is_given_back_after_it_settles() -> None:
    """A token estimate handed back at settlement reaches the book with the grant's return."""
    grants = RateGrants()
    grants.add(7, 100, 10.0)
    assert grants.take("r1", 80, 1.0) == 0
    assert grants.lapsed(11.0) == {}  # r1 still in flight: its refund is not in yet
    grants.refund("r1", 50)
    grants.settled("r1")
    assert grants.lapsed(11.0) == {7: 70}


RULE = RateRule(LimitId("virtual_key:k1#tokens"), "virtual_key", "tokens", 1000, 60.0)


def admitted(number: int, estimate: int, at: float) -> ev.RequestAdmitted:
    """An admission on holder a/1 charging `estimate` tokens."""
    return ev.RequestAdmitted(
        originator_id=UUID(int=number),
        originator_version=1,
        timestamp=datetime.fromtimestamp(at, UTC),
        request_id=str(UUID(int=number)),
        instance="a",
        incarnation="1",
        key_id="k1",
        team_id=None,
        customer_id=None,
        surface="openai",
        model="m1",
        provider=None,
        reservations=[],
        rate=stored([rate_charge(RULE, estimate)]),
        estimate={},
        headers={},
    )


def settled(number: int, change: int, at: float) -> ev.RequestSettled:
    """The settlement of that request: the token limit adjusted by actual - estimate."""
    adjustment = RateCharge(RULE.id, "tokens", change, RULE.capacity, RULE.window_s)
    return ev.RequestSettled(
        originator_id=UUID(int=number),
        originator_version=2,
        timestamp=datetime.fromtimestamp(at, UTC),
        request_id=str(UUID(int=number)),
        instance="a",
        incarnation="1",
        status="ok",
        reason="",
        provider="p",
        provider_key_id=None,
        model="m1",
        tokens={"input": 1, "output": 1},
        cost=Decimal(0),
        price_source="zero",
        charges=[],
        rate=stored([adjustment]),
        attempts=[],
        latency_ms=1.0,
    )


def test_a_token_estimate_is_handed_back_to_the_grant_at_settlement() -> None:
    """Estimate 400 taken at admission, 100 used: 300 are usable again, the real 100 charged."""
    state = UsageState(holder="a/1")
    key = rate_key(RULE.id, RULE.capacity, RULE.window_s)
    assert rate_terms(key[1]) == (1000, 60.0)
    short = limit_refusal(RULE, state, 400, 100.0)
    assert short is not None and short.shortfall is not None and short.shortfall.deficit == 400
    state.rate_grants[key] = RateGrants()
    state.rate_grants[key].add(1, 500, 102.0)
    assert limit_refusal(RULE, state, 400, 100.0) is None
    state.apply(admitted(1, 400, 100.0))
    assert state.rate_grants[key].usable(100.5) == 100
    assert limit_refusal(RULE, state, 400, 100.5) is not None  # the grant is spoken for
    state.apply(settled(1, -300, 101.0))
    assert state.rate_grants[key].usable(101.0) == 400
    assert limit_refusal(RULE, state, 400, 101.0) is None
    assert state.rate_grants[key].lapsed(103.0) == {1: 400}  # the unused, back to the book


def test_a_refusal_while_the_book_is_full_says_when_it_grants_again() -> None:
    """The shortfall's 429 carries the time the book would grant (as last read), not 1 s."""
    state = UsageState(holder="a/1")
    key = rate_key(RULE.id, RULE.capacity, RULE.window_s)
    state.rate_ready[key] = 100.0 + 42.3
    refusal = limit_refusal(RULE, state, 10, 100.0)
    assert refusal is not None and refusal.status == 429 and refusal.retry_after == 43


def test_units_unused_within_their_use_time_cannot_be_used_later() -> None:
    """A holder granted more than it used cannot spend the rest after use_s: with the book
    drained and granted in full to another, that would pass the bound."""
    cluster = Cluster(capacity=10, window_s=60.0, use_s=2.0)
    cluster.number = 3  # so the first grant is sized for queued demand (a share, 3 units)
    assert cluster.request("a/1", 1, 1, 0.0)
    assert cluster.holders["a/1"].grants.usable(0.0) == 2  # a fair third: 3 granted
    later = 200.0
    served = sum(cluster.request("b/1", 1, 1, later) for _ in range(10))
    served += sum(cluster.request("a/1", 1, 1, later) for _ in range(2))
    assert served <= bound(10, 60.0, 0.0, 2.0)


def test_a_busy_holder_is_granted_about_a_second_of_its_use_within_its_share() -> None:
    """`ahead` sizes a grant past the deficit (fewer grants), never past the fair share."""
    book = RateBook(10_000, 60.0)
    assert grant_units(book, 0.0, 1, 1, 3, ahead=150) == 150
    assert grant_units(book, 0.0, 1, 1, 3, ahead=50_000) == 3333
    assert grant_units(book, 0.0, 0, 0, 3) == 0  # nothing asked, nothing granted
