"""The running gateway's parts, wired once: store, writer, state, tails, price book.

This is the only module that knows the concrete adapters; nothing connects at import.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from govledger.exporters import registry as exporters
from govledger.ledger import events as ev
from govledger.ledger.clock import Clock
from govledger.ledger.commit_bookkeeping import DuplicateEventError
from govledger.ledger.commit_process import CommitFailedError, CommitProcess
from govledger.ledger.credentials import SecretBox
from govledger.ledger.entities import GovernanceState, kind_and_action
from govledger.ledger.governance import GovernanceLedger
from govledger.ledger.loop_writer import CommitDeferredError, LoopWriter
from govledger.ledger.personal import SubjectRef
from govledger.ledger.route_params import health_params
from govledger.ledger.secrets.cache import Change, SecretCache
from govledger.ledger.secrets.inventory import provider_references
from govledger.ledger.secrets.managers import Managers
from govledger.ledger.spool import Spool, commit_spool
from govledger.ledger.store import Store
from govledger.ledger.subject_keys import KeyRing, SubjectKeys
from govledger.ledger.users import PERSONAL_FIELDS
from govledger.projections.audit_view import AuditView
from govledger.projections.database import ViewDatabase
from govledger.projections.policy import KeyPolicy, SharedParts, compile_policy
from govledger.projections.route_events import RouteStateRecorder
from govledger.projections.runner import Batch, Tail, catch_up
from govledger.projections.usage_state import UsageState
from govledger.projections.usage_view import UsageView, load_usage_state
from govledger.projections.worker import ProjectionProcess
from govledger.proxy.enforcement.admission import Shortfall
from govledger.proxy.enforcement.cost import PriceBook, PriceOverride
from govledger.proxy.enforcement.orphans import orphans
from govledger.proxy.enforcement.route_report import RoutingGroup, routing_groups
from govledger.proxy.enforcement.settlement import Origin
from govledger.proxy.server.allotments import Allotter
from govledger.proxy.server.clock import SystemClock
from govledger.proxy.server.members import Membership
from govledger.proxy.server.settings import Settings

log = logging.getLogger("govledger")


class SecretStartupError(RuntimeError):
    """A referenced secret has no value at start: one line naming it and the reason."""


@dataclass
class Runtime:
    """Owns every long-lived part; `start` and `stop` bracket the server's life."""

    settings: Settings
    incarnation: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    clock: Clock = field(default_factory=SystemClock)  # the process's one clock
    store: Store = field(init=False)
    writer: LoopWriter = field(init=False)
    governance: GovernanceLedger = field(init=False)
    generation: int = 0  # counts governance changes
    usage: UsageState = field(init=False)
    prices: PriceBook = field(init=False)
    tails: list[Tail] = field(default_factory=list)
    loop: asyncio.AbstractEventLoop | None = None
    _policies: dict[str, KeyPolicy | None] = field(default_factory=dict)
    _parts: SharedParts = field(default_factory=SharedParts)  # what compiled policies share
    _probe: asyncio.Task[None] | None = None
    managers: Managers = field(default_factory=Managers)
    secrets: SecretCache = field(init=False)
    subjects: KeyRing = field(init=False)
    _route_watch: asyncio.Task[None] | None = None

    def open(self) -> None:
        """Open the store and build state from the views plus the tail (no full replay)."""
        self.store = Store(self.settings.database_url)
        self.spool = Spool(self.settings.spool_path)
        commit_spool(self.store, self.spool)  # a crashed incarnation's kept events come first
        box = SecretBox.from_environment_or_file(self.settings.secret_key_file)
        self.subjects = KeyRing(SubjectKeys(self.settings.database_url, box))
        self.governance = GovernanceLedger(
            self.store, box, ring=self.subjects, personal_fields=PERSONAL_FIELDS
        )
        self.governance.load()
        self.secrets = SecretCache(self.managers.fetch, self.settings.secret_ttl_s)
        self.views = ViewDatabase(self.settings.database_url)
        self.views.create()
        exporters.create_tables(self.views)
        catch_up(self.store, self.views, "governance", [AuditView()])
        catch_up(self.store, self.views, "usage", [UsageView()])
        with self.views.transaction() as cur:
            health = health_params(self.governance.state.settings())
            self.usage = load_usage_state(cur, datetime.now(UTC), health)
        self.allotter: Allotter | None = None
        if self.settings.leasing:  # strict budgets admitted against leased allotments
            self.usage.holder = self.instance_id
            membership = Membership(
                self.settings.database_url,
                self.instance_id,
                self.settings.instance,
                self.settings.lease_s,
                self.settings.allotment_timeout_s,
            )
            self.allotter = Allotter(
                self.store,
                self.usage,
                membership,
                self.instance_id,
                self.clock,
                self.settings.lease_s,
                timeout_s=self.settings.allotment_timeout_s,
            )
        self.usage_position = self.views.position("usage", "usage")
        self._refresh_prices()
        self.commits = CommitProcess(self.settings.database_url)
        self.writer = LoopWriter(
            self.store, self.commits, self.spool, stall_after_s=self.settings.stall_after_s
        )
        self.projector = ProjectionProcess(self.settings.database_url, [exporters.TOPIC])
        self._own: set[int] = set()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the writer and the tails, and close what a crashed incarnation left open."""
        self.loop = loop
        self.secrets.on_change = self._secrets_changed
        self.secrets.start()
        self.commits.start()
        self.projector.start()  # both children start up side by side
        try:
            self.commits.ping("usage")  # warm before the first request, not during it
        except CommitFailedError as error:  # the writer reports and retries it
            log.debug("commit process not ready at start: %s", error)
        self.writer.start(loop)
        if self.allotter is not None:
            self.allotter.start(loop)
        url = self.settings.database_url
        governance = Tail(
            self.store,
            url,
            "governance",
            [],
            [self._on_governance],
            after=self.governance.state.position,
        )
        usage = Tail(
            self.store,
            url,
            "usage",
            [],
            [self._on_usage],
            after=self.usage_position,
            skip=self._is_own,
        )
        self.tails = [governance, usage]
        self.writer.listeners.append(self._committed)
        for tail in self.tails:
            tail.start()
        self.abandon_orphans(self.clock.now())
        self._probe = loop.create_task(self._watch_store())
        self._route_watch = loop.create_task(self._watch_routes())

    async def _watch_store(self) -> None:
        """Once a minute, close requests open longer than abandon_after_s.

        (The writer itself watches the store: it pings it when idle and retries after a
        failure, so admission resumes by itself once the store answers again.)
        """
        while True:
            await asyncio.sleep(60.0)
            if not self.writer.accepting():
                continue
            try:
                await self.sweep_orphans(self.clock.now())
            except CommitDeferredError:  # the store went away meanwhile: kept, not an error
                continue
            except Exception as error:  # the sweep retries next minute
                log.warning("orphan sweep failed: %s", str(error).splitlines()[0])

    async def _watch_routes(self) -> None:
        """At each recompute tick, replay the health fold (so no admission waits for it) and
        record the route state changes it finds."""
        recorder = RouteStateRecorder(self.usage.routes, self.settings.instance, time.time())
        while True:
            interval = self.usage.routes.params.interval_s  # the settings may change it
            await asyncio.sleep(interval - time.time() % interval + 0.001)  # just past a tick
            if not self.writer.accepting():
                continue
            for event in recorder.due(time.time()):
                try:
                    await self.writer.append("usage", [event])
                except DuplicateEventError:  # another instance recorded the same change first
                    continue
                except CommitDeferredError:  # kept by the writer; committed when the store returns
                    continue

    def _committed(self, app: str, ids: Sequence[int], _seconds: float) -> None:
        if app == "usage":
            self._own.update(ids)
        for tail in self.tails:
            tail.nudge()

    def _is_own(self, position: int) -> bool:
        """True (once) for a usage notification this process wrote: it is applied already."""
        try:
            self._own.remove(position)
        except KeyError:
            return False
        return True

    async def drain(self) -> None:
        """Commit what is queued, then give back unused allotments (before `stop`, on the
        loop)."""
        await self.writer.close()
        if self.allotter is not None:
            await self.allotter.close()

    async def top_up(self, shortfall: Shortfall) -> bool:
        """Ask for more of a strict budget's allotment; False if none can be had."""
        if self.allotter is None:
            return False
        return await self.allotter.top_up(shortfall)

    def stop(self) -> None:
        """Stop the commit process and the tails, and close the store."""
        if self._probe is not None:
            self._probe.cancel()
        self.secrets.stop()
        if self._route_watch is not None:
            self._route_watch.cancel()
        self.commits.stop()
        for tail in self.tails:
            tail.stop()
        self.projector.stop()
        self.views.close()
        self.subjects.keys.close()
        self.store.close()

    @property
    def instance_id(self) -> str:
        """This process: the stable instance name and this start's incarnation."""
        return f"{self.settings.instance}/{self.incarnation}"

    def policy(self, key_id: str) -> KeyPolicy | None:
        """The compiled policy of a key, cached until governance changes."""
        try:
            return self._policies[key_id]
        except KeyError:
            policy = compile_policy(
                self.governance.state, key_id, self.governance.box, self.secrets.value, self._parts
            )
            self._policies[key_id] = policy
            return policy

    def forget_policies(self) -> None:
        """Drop the compiled policies and the parts they share: each compiles again."""
        self._policies.clear()
        self._parts.clear()

    def routing_groups(self) -> list[RoutingGroup]:
        """The adaptive keys' routing groups (from the compiled, cached policies)."""
        return routing_groups(self.policy(k) for k in sorted(self.state.live("virtual_key")))

    @property
    def state(self) -> GovernanceState:
        """The folded governance state."""
        return self.governance.state

    def _refresh_prices(self) -> None:
        settings = self.governance.state.settings()
        overrides = [PriceOverride(**o) for o in settings["pricing_overrides"]]
        self.prices = PriceBook(overrides, bool(settings["allow_unknown_prices"]))

    def governance_changed(self) -> None:
        """Drop compiled policies and prices after a governance change, and follow the
        references it holds now (a new one is fetched at once, in the background)."""
        self.generation += 1  # what compiles from governance (guardrails) recompiles
        self.forget_policies()
        self._refresh_prices()
        self.usage.routes.configure(health_params(self.governance.state.settings()))
        self.secrets.track(provider_references(self.governance.state))

    def resolve_secrets(self) -> None:
        """Fetch every referenced secret before serving; SecretStartupError names the first
        reference without a value (and how many more) in one line."""
        bad = self.secrets.track(provider_references(self.governance.state))
        self.secrets.refresh(force=True)
        missing = bad + [
            (h.reference.text, h.error) for h in self.secrets.entries() if h.value is None
        ]
        if missing:
            reference, reason = missing[0]
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise SecretStartupError(f"secret {reference}: {reason}{more}")
        self.forget_policies()

    def _secrets_changed(self, changes: list[Change]) -> None:
        """From the refresher thread: new requests use the new values at once; the news
        (never a value) goes into the ledger, where the alert consumer sees it."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.forget_policies)
        events = [e for e in (secret_event(c, self.instance_id) for c in changes) if e]
        if not events:
            return
        try:
            self.governance.append(events)
        except Exception as error:  # the store may be down too: the log line stays
            log.warning("could not record %d secret event(s): %s", len(events), str(error)[:200])

    def _on_governance(self, batch: Batch) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._apply_governance, batch)

    def _apply_governance(self, batch: Batch) -> None:
        state = self.governance.state
        changed = False
        for position, event in batch:
            if isinstance(event, ev.EntityEvent):
                kind, _ = kind_and_action(event)
                if event.originator_version > state.version(kind, event.entity_id):
                    state.apply(self.governance.opened(event))  # may fetch a key once
                    changed = True
            if isinstance(event, ev.SubjectErased):  # its key may be cached here
                self.subjects.evict(SubjectRef(event.ref))
                changed = self.governance.erase(SubjectRef(event.ref)) > 0 or changed
            state.position = max(state.position, position)
        if changed:
            self.governance_changed()

    def _on_usage(self, batch: Batch) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._apply_usage, batch)

    def _apply_usage(self, batch: Batch) -> None:
        for position, event in batch:
            if position <= self.usage_position:
                continue
            self.usage_position = position
            if getattr(event, "incarnation", None) != self.incarnation:
                self.usage.apply(event)

    def orphans(self, now: datetime) -> list[ev.RequestAbandoned]:
        """Abandoned events for requests an earlier incarnation of this instance left open,
        and for any request open longer than `abandon_after_s` (its process is gone)."""
        origin = Origin(self.settings.instance, self.incarnation)
        return orphans(dict(self.usage.inflight), origin, self.settings.abandon_after_s, now)

    def abandon_orphans(self, now: datetime) -> int:
        """Close orphans at start, one by one (another instance may have closed one first)."""
        closed = 0
        for event in self.orphans(now):
            try:
                self.writer.append_sync("usage", [event])
            except DuplicateEventError:
                continue
            self.usage.apply(event)
            closed += 1
        if closed:
            log.warning("closed %d abandoned request(s), charged at their reservation", closed)
        return closed

    async def sweep_orphans(self, now: datetime) -> int:
        """Close stale orphans while running (from the event loop)."""
        closed = 0
        for event in self.orphans(now):
            if event.request_id not in self.usage.inflight:
                continue
            try:
                await self.writer.append("usage", [event])
            except DuplicateEventError:
                continue
            self.usage.apply(event)
            closed += 1
        return closed


def secret_event(change: Change, seen_by: str) -> ev.GovernanceEvent | None:
    """The ledger event of a change to a secret (a first value is no news)."""
    base: dict[str, Any] = {
        "originator_id": uuid.uuid4(),
        "originator_version": 1,
        "timestamp": datetime.now(UTC),
        "actor": "system",
        "source": "system",
        "reference": change.reference,
        "seen_by": seen_by,
    }
    if change.kind == "rotated":
        return ev.SecretRotated(
            **base, fingerprint=change.fingerprint, previous_fingerprint=change.previous
        )
    if change.kind == "unavailable":
        return ev.SecretFetchFailed(
            **base, cause=change.reason, kept=change.kept, fingerprint=change.fingerprint
        )
    if change.kind == "restored":
        return ev.SecretRestored(**base, fingerprint=change.fingerprint)
    return None
