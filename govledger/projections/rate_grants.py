"""A holder's grants of rate limits' shared books (see proxy/enforcement/rate_allotment.py):
which units it may still use, what each admitted request took, and what is due back."""

from __future__ import annotations

from dataclasses import dataclass, field

RATE_BOOK = "rate:"  # the prefix of a rate limit's book key (budget books have none)


def rate_key(limit: str, capacity: int, window_s: float) -> tuple[str, str]:
    """The (book, period) of a rate limit's book: a new limit's terms start a new book."""
    return f"{RATE_BOOK}{limit}", f"gcra:{capacity}/{window_s!r}"


def is_rate_book(book: str) -> bool:
    """True if a book key is a rate limit's (not a budget period's)."""
    return book.startswith(RATE_BOOK)


def rate_terms(period: str) -> tuple[int, float]:
    """The capacity and window of a rate book's period (`rate_key`'s inverse)."""
    capacity, window = period.removeprefix("gcra:").split("/")
    return int(capacity), float(window)


@dataclass
class HeldGrant:
    """One grant this holder holds: its units, what is left, and until when it is usable."""

    units: int
    left: int
    until: float


@dataclass
class RateGrants:
    """This holder's grants of one rate book and what each admitted request took of them."""

    grants: dict[int, HeldGrant] = field(default_factory=dict)  # grant version -> grant
    taken: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # request -> takes
    used: int = 0  # units taken by admissions so far, net of refunds (its use rate's input)

    def usable(self, now: float) -> int:
        """Units left in grants still usable at `now`."""
        return sum(g.left for g in self.grants.values() if g.until >= now)

    def add(self, version: int, units: int, until: float) -> None:
        """A grant was made to this holder."""
        self.grants[version] = HeldGrant(units, units, until)

    def take(self, request: str, units: int, now: float) -> int:
        """An admitted request takes `units`, soonest-lapsing grants first; returns what no
        usable grant covered (0 when admission checked `usable`)."""
        takes = self.taken.setdefault(request, [])
        for version, grant in sorted(self.grants.items(), key=lambda item: item[1].until):
            if units <= 0:
                break
            if grant.until < now or grant.left <= 0:
                continue
            part = min(units, grant.left)
            grant.left -= part
            units -= part
            self.used += part
            takes.append((version, part))
        return units

    def refund(self, request: str, units: int) -> None:
        """A request used `units` less than it took: back to the grants it took them from,
        while this holder still holds them (a grant given back already keeps them)."""
        for version, part in reversed(self.taken.get(request, [])):
            if units <= 0:
                break
            grant = self.grants.get(version)
            if grant is None:
                continue
            back = min(units, part, grant.units - grant.left)
            grant.left += back
            units -= back
            self.used -= back

    def settled(self, request: str) -> None:
        """A request is closed: its takes are no longer refundable."""
        self.taken.pop(request, None)

    def lapsed(self, now: float) -> dict[int, int]:
        """Grants no longer usable at `now` whose requests have all settled (so refunds are
        in), each with its unused units (to give back); they are dropped here."""
        busy = {version for takes in self.taken.values() for version, _ in takes}
        due = {v: g.left for v, g in self.grants.items() if g.until < now and v not in busy}
        for version in due:
            del self.grants[version]
        return {v: left for v, left in due.items() if left > 0}

    def release(self) -> dict[int, int]:
        """Every grant's unused units (a clean stop); all are dropped."""
        due = {v: g.left for v, g in self.grants.items() if g.left > 0}
        self.grants.clear()
        return due
