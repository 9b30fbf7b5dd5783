"""Reading the ledger after the fact, and holding it against what the clients were told.

`read_ledger(url)` folds the usage log into `LedgerFigures` (admitted, settled, abandoned,
double charges, orphans); `reconcile(records, figures)` checks every served request against
it; `view_lags(url)` gives each tracked consumer's distance from the head of its log.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from govledger.ledger import events as ev
from govledger.ledger.store import Store
from govledger.projections.database import ViewDatabase
from tests.faults.harness.load import RequestRecord


@dataclass
class LedgerFigures:
    """The usage log, by request id."""

    admitted: set[str] = field(default_factory=set)
    settled: dict[str, list[Decimal]] = field(default_factory=dict)  # id -> cost per event
    settled_status: Counter[str] = field(default_factory=Counter)
    abandoned: Counter[str] = field(default_factory=Counter)  # id -> abandoned events
    abandoned_reasons: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    head: int = 0  # the usage log's last notification id
    upstream_attempts: int = 0  # attempts recorded in settlements: the upstream calls known
    settled_before_admitted: list[str] = field(default_factory=list)  # in log order

    @property
    def double_charged(self) -> set[str]:
        """Requests closed more than once (two settlements, two abandons, or one of each)."""
        closes = Counter({rid: len(costs) for rid, costs in self.settled.items()})
        closes.update(self.abandoned)
        return {rid for rid, n in closes.items() if n > 1}

    @property
    def closed_without_admission(self) -> set[str]:
        """Settled or abandoned ids that were never admitted."""
        return (set(self.settled) | set(self.abandoned)) - self.admitted

    @property
    def open(self) -> set[str]:
        """Admitted and never closed: orphans (requests in flight, if the server runs)."""
        return self.admitted - set(self.settled) - set(self.abandoned)

    @property
    def settled_cost(self) -> Decimal:
        """The sum of every settlement's cost."""
        return sum((c for costs in self.settled.values() for c in costs), Decimal(0))

    def cost_of(self, request_id: str) -> Decimal | None:
        """The settled cost of a request (None if it has no single settlement)."""
        costs = self.settled.get(request_id, [])
        return costs[0] if len(costs) == 1 else None


def read_ledger(database_url: str) -> LedgerFigures:
    """Fold the whole usage log of a store (open only for the read)."""
    figures = LedgerFigures()
    store = Store(database_url, create_tables=False)
    try:
        for position, event in store.iterate("usage"):
            figures.head = position
            if isinstance(event, ev.RequestAdmitted):
                figures.admitted.add(event.request_id)
            elif isinstance(event, ev.RequestSettled):
                if event.request_id not in figures.admitted:
                    figures.settled_before_admitted.append(event.request_id)
                figures.upstream_attempts += len(event.attempts)
                figures.settled.setdefault(event.request_id, []).append(event.cost)
                figures.settled_status[event.status] += 1
            elif isinstance(event, ev.RequestAbandoned):
                figures.abandoned[event.request_id] += 1
                figures.abandoned_reasons[event.reason] += 1
            elif isinstance(event, ev.RequestRejected):
                figures.rejected += 1
    finally:
        store.close()
    return figures


@dataclass
class Reconciliation:
    """Served requests held against the ledger; every list should be empty."""

    served: int
    missing: list[str]  # served, yet no settlement in the ledger
    wrong_cost: list[tuple[str, Decimal | None, Decimal | None]]  # (id, told, recorded)
    without_id: list[int]  # served without an x-govledger-request-id (record index)
    double_charged: set[str]
    closed_without_admission: set[str]
    open: set[str]

    @property
    def clean(self) -> bool:
        """True when nothing is missing, wrong, doubled or left open."""
        return not (
            self.missing
            or self.wrong_cost
            or self.without_id
            or self.double_charged
            or self.closed_without_admission
            or self.open
        )


def reconcile(records: Iterable[RequestRecord], figures: LedgerFigures) -> Reconciliation:
    """Every served request must be settled once, at the cost the client was told.

    A served stream without a cost note (Gemini has none) is checked for its settlement only.
    """
    served = [r for r in records if r.served]
    missing, wrong, without_id = [], [], []
    for record in served:
        if record.request_id is None:
            without_id.append(record.index)
            continue
        if record.request_id not in figures.settled:
            missing.append(record.request_id)
            continue
        recorded = figures.cost_of(record.request_id)
        told = record.cost
        if (told is not None or not record.stream) and told != recorded:
            wrong.append((record.request_id, told, recorded))
    return Reconciliation(
        len(served),
        missing,
        wrong,
        without_id,
        figures.double_charged,
        figures.closed_without_admission,
        figures.open,
    )


def view_lags(database_url: str) -> dict[str, int]:
    """Each tracked consumer (`app/view`: views and exporters) and its lag behind its log."""
    store = Store(database_url, create_tables=False)
    views = ViewDatabase(database_url)
    try:
        heads = {app: store.max_position(app) for app in ("governance", "usage")}
        rows = views.query("SELECT view, app, position FROM gl_tracking")
        return {f"{app}/{view}": heads.get(app, 0) - int(pos) for view, app, pos in rows}
    finally:
        views.close()
        store.close()


def wait_drained(database_url: str, timeout: float) -> dict[str, int]:
    """Wait until every tracked consumer has reached the head of its log; returns the lags."""

    deadline = time.monotonic() + timeout
    while True:
        lags = view_lags(database_url)
        if lags and not any(lags.values()):
            return lags
        if time.monotonic() > deadline:
            raise AssertionError(f"views and exporters still lag after {timeout:g}s: {lags}")
        time.sleep(0.1)


def view_request_statuses(database_url: str) -> Counter[str]:
    """How many rows of the `gl_requests` view per status (ok, abandoned, admitted, ...)."""
    views = ViewDatabase(database_url)
    try:
        rows = views.query("SELECT status, COUNT(*) FROM gl_requests GROUP BY status")
        return Counter({str(status): int(n) for status, n in rows})
    finally:
        views.close()
