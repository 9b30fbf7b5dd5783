"""Governance use cases: load the state, plan a config file, append its difference at once."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from eventsourcing.persistence import IntegrityError

from govledger.ledger import events as ev
from govledger.ledger.config import ConfigFile
from govledger.ledger.credentials import SecretBox, generate_virtual_key
from govledger.ledger.entities import GovernanceState, kind_and_action
from govledger.ledger.personal import SubjectRef
from govledger.ledger.plan import Plan, make_plan
from govledger.ledger.sealed_entities import erased, has_personal, opened, seal_events
from govledger.ledger.store import Store
from govledger.ledger.subject_keys import KeyRing


class ConcurrentChangeError(RuntimeError):
    """Another writer changed the same entity first; reload and try again."""


def utcnow() -> datetime:
    """The current time in UTC (the only clock the command side reads)."""
    return datetime.now(UTC)


class GovernanceLedger:
    """The governance application's use cases over an in-memory folded state."""

    def __init__(
        self,
        store: Store,
        box: SecretBox,
        clock: Callable[[], datetime] = utcnow,
        ring: KeyRing | None = None,
        personal_fields: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.box = box
        self.clock = clock
        self.ring = ring  # with it, entities' personal fields are sealed at rest
        self.personal_fields = tuple(personal_fields)
        self.state = GovernanceState()
        self._lock = threading.Lock()

    def load(self) -> GovernanceState:
        """Fold every governance event not yet seen into the state."""
        with self._lock:
            for position, event in self.store.iterate("governance", self.state.position):
                if isinstance(event, ev.EntityEvent) and _is_new(self.state, event):
                    self.state.apply(self.opened(event))
                elif isinstance(event, ev.SubjectErased):
                    self.erase(SubjectRef(event.ref))
                self.state.position = position
        return self.state

    def plan(self, config: ConfigFile, prune: bool = False) -> Plan:
        """The plan that would make the ledger match the file (see `make_plan`)."""
        self.load()
        return make_plan(
            config, self.state, self.box, self.clock(), generate_virtual_key, prune=prune
        )

    def apply(
        self,
        config: ConfigFile,
        actor: str,
        source: str,
        dry_run: bool = False,
        prune: bool = False,
    ) -> tuple[Plan, int]:
        """Plan and append the difference in one transaction; returns the plan and event count."""
        plan = self.plan(config, prune=prune)
        if dry_run or plan.is_empty:
            return plan, 0
        events = plan.events(self.state, actor, source, self.clock())
        self.commit(events)
        return plan, len(events)

    def commit(self, events: Sequence[ev.EntityEvent]) -> None:
        """Append events atomically, then fold them into the state."""
        with self._lock:
            self.append(events)
            # The position stays: another writer may have landed events just before these,
            # and `load` must still read them (it skips these by their versions).
            self.fold(events)

    def append(self, events: Sequence[ev.GovernanceEvent]) -> None:
        """Append events atomically without folding them (the caller folds on its own thread).

        Each event's version is checked against its stream: if another writer got there
        first, nothing is appended and ConcurrentChangeError is raised.
        """
        stored = seal_events(events, self.ring) if self.ring is not None else list(events)
        try:
            self.store.governance.save(*stored)
        except IntegrityError:
            raise ConcurrentChangeError(
                "another change to the same entity landed first; nothing was appended"
            ) from None

    def fold(self, events: Sequence[ev.LedgerEvent]) -> bool:
        """Fold the entity events the state does not hold yet; True if any was new."""
        changed = False
        for event in events:
            if isinstance(event, ev.EntityEvent) and _is_new(self.state, event):
                self.state.apply(event)
                changed = True
        return changed

    def opened(self, event: ev.EntityEvent) -> ev.EntityEvent:
        """A stored event as the state folds it: its personal fields opened, or `erased`."""
        if self.ring is None or not has_personal(event.data):
            return event
        return dataclasses.replace(event, data=opened(event.data, self.ring, self.personal_fields))

    def erase(self, ref: SubjectRef) -> int:
        """Show a forgotten subject's personal fields as `erased` in the state; entities
        changed."""
        if self.ring is None:
            return 0
        changed = 0
        for entity in self.state.entities.values():
            if has_personal(entity.data) and self.ring.ref(entity.id) == ref:
                entity.data = erased(entity.data, self.personal_fields)
                changed += 1
        return changed


def _is_new(state: GovernanceState, event: ev.EntityEvent) -> bool:
    kind, _ = kind_and_action(event)
    return event.originator_version > state.version(kind, event.entity_id)
