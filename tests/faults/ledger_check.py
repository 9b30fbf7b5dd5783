"""What the fault tests compare after the fact: the committed usage log against the clients,
the fake upstream and the gateway's in-memory state."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from govledger.ledger import events as ev
from govledger.ledger.store import Store


@dataclass
class LedgerFigures:
    """The usage log folded into the figures a fault test asserts on."""

    admitted: set[str] = field(default_factory=set)
    settled: Counter[str] = field(default_factory=Counter)
    abandoned: set[str] = field(default_factory=set)
    rejected: int = 0
    upstream_attempts: int = 0
    settled_before_admitted: list[str] = field(default_factory=list)
    cost: Decimal = Decimal(0)
    costs: dict[str, Decimal] = field(default_factory=dict)

    @property
    def double_charged(self) -> list[str]:
        """Requests closed twice (settled twice, or settled and abandoned)."""
        closes = Counter(self.settled)
        closes.update(self.abandoned)
        return [rid for rid, n in closes.items() if n > 1]

    @property
    def open(self) -> set[str]:
        """Requests admitted and never closed."""
        return self.admitted - set(self.settled) - self.abandoned


def read_ledger(url: str) -> LedgerFigures:
    """Fold a store's usage log (opened afresh, so only what is committed counts)."""
    store = Store(url, create_tables=False)
    figures = LedgerFigures()
    try:
        for _, event in store.iterate("usage"):
            if isinstance(event, ev.RequestAdmitted):
                figures.admitted.add(event.request_id)
            elif isinstance(event, ev.RequestSettled):
                if event.request_id not in figures.admitted:
                    figures.settled_before_admitted.append(event.request_id)
                figures.settled[event.request_id] += 1
                figures.upstream_attempts += len(event.attempts)
                figures.cost += event.cost
                figures.costs[event.request_id] = event.cost
            elif isinstance(event, ev.RequestAbandoned):
                figures.abandoned.add(event.request_id)
            elif isinstance(event, ev.RequestRejected):
                figures.rejected += 1
    finally:
        store.close()
    return figures
