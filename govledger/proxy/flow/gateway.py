"""The request path as use cases: authenticate, admit and reserve, then settle and commit.

HTTP lives in the surfaces; upstream I/O in `upstream`. This module turns decisions into
events, keeps the in-memory state in step with them, and awaits the commit of each
request's settlement before its response completes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from govledger.ledger import events as ev
from govledger.ledger.charges import stored
from govledger.ledger.clock import Clock
from govledger.ledger.commit_bookkeeping import Callback
from govledger.ledger.config import Durability, credential_headers
from govledger.ledger.credentials import hash_secret
from govledger.ledger.entities import SETTINGS_ID, GovernanceState
from govledger.ledger.loop_writer import CommitDeferredError
from govledger.ledger.money import plain
from govledger.ledger.personal import WITHHELD, recorded_value
from govledger.ledger.subject_keys import KeyRing
from govledger.projections.policy import KeyPolicy, Route
from govledger.projections.usage_state import UsageState
from govledger.proxy.enforcement.admission import (
    Admission,
    Refusal,
    Shortfall,
    admit,
    key_refusal,
)
from govledger.proxy.enforcement.cost import (
    PriceBook,
    PriceUnknownError,
    TokenUsage,
    max_output_tokens,
)
from govledger.proxy.enforcement.estimate import (
    UnboundableInputError,
    input_token_bound,
    output_token_bound,
)
from govledger.proxy.enforcement.settlement import Instant, Origin, Outcome, settle
from govledger.proxy.enforcement.settlement import Ticket as Held
from govledger.proxy.flow.required_headers import HeaderRule, compile_rules, missing_headers
from govledger.proxy.server.tracing import RequestTrace
from govledger.proxy.surfaces.errors import GatewayError

log = logging.getLogger("govledger.gateway")


Seal = Callable[[str], str | None]  # a personal value sealed under its subject's cached key


def recorded_headers(
    settings: Mapping[str, Any], headers: Mapping[str, str], seal: Seal | None = None
) -> dict[str, str]:
    """The request headers the settings ask to record; credential headers never are
    (a store written before they were refused may still list one). A personal header's
    value is sealed under its subject's key, or `withheld` when no key is at hand."""
    wanted = settings.get("record_headers") or []
    if not wanted:
        return {}
    secret = credential_headers(settings)
    found = {n: recorded_value(headers[n]) for n in wanted if n in headers and n not in secret}
    for name in settings.get("personal_headers") or ():
        if name in found:
            found[name] = (seal(found[name]) if seal is not None else None) or WITHHELD
    return found


def personal_values(settings: Mapping[str, Any], headers: Mapping[str, str]) -> list[str]:
    """The values of a request's personal headers, as they would be recorded."""
    recorded = set(settings.get("record_headers") or ())
    return [
        recorded_value(headers[name])
        for name in settings.get("personal_headers") or ()
        if name in headers and name in recorded
    ]


KEY_HEADERS = ("x-bf-vk", "authorization", "x-api-key", "x-goog-api-key")
SUBJECT_KEY_WAIT_S = 2.0  # the longest a request waits for a new subject's key


def read_virtual_key(headers: Mapping[str, str]) -> str | None:
    """The virtual key: x-bf-vk, else an `sk-bf-` Bearer, x-api-key or x-goog-api-key."""
    value = headers.get("x-bf-vk")
    if value:
        return value.strip()
    bearer = headers.get("authorization", "")
    if bearer[:7].lower() == "bearer ":
        token = bearer[7:].strip()
        if token.startswith("sk-bf-"):
            return token
    for name in ("x-api-key", "x-goog-api-key"):
        token = headers.get(name, "").strip()
        if token.startswith("sk-bf-"):
            return token
    return None


@dataclass
class Call:
    """One inference request in the gateway's terms, whatever its surface."""

    surface: str
    model: str
    body: dict[str, Any]
    stream: bool
    headers: Mapping[str, str]
    pinned_provider: str | None = None
    api_version: str | None = None  # the version in a Gemini path (v1beta or v1)
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    trace: RequestTrace | None = None  # set only when tracing is on


@dataclass
class Ticket:
    """An admitted call: the call itself, what settlement needs of it, and whether it is
    settled yet."""

    call: Call
    held: Held
    settled: bool = False

    @property
    def policy(self) -> KeyPolicy:
        """The key's policy at admission."""
        return self.held.policy

    @property
    def admission(self) -> Admission:
        """The route chain, reservations and rate charges."""
        return self.held.admission

    @property
    def estimate(self) -> TokenUsage:
        """The token bounds the reservation was computed from."""
        return self.held.estimate


class Governance(Protocol):
    """What the gateway reads of governance: the folded state, keys' policies, the prices."""

    @property
    def state(self) -> GovernanceState:
        """The folded governance state."""
        ...

    @property
    def prices(self) -> PriceBook:
        """The price book of the current settings."""
        ...

    def policy(self, key_id: str) -> KeyPolicy | None:
        """The compiled policy of a key, or None."""
        ...


class RequestWriter(Protocol):
    """Where request events go: queued, or appended and awaited."""

    def accepting(self) -> bool:
        """True while the store takes commits in time."""
        ...

    def submit(
        self, app: str, events: Sequence[ev.LedgerEvent], done: Callback, linger: bool = False
    ) -> None:
        """Queue events; `done` is called after the commit."""
        ...

    async def append(self, app: str, events: Sequence[ev.LedgerEvent]) -> Sequence[int]:
        """Append and await the commit."""
        ...


class Usage(Protocol):
    """The enforcement usage state and the writer its events go to."""

    @property
    def usage(self) -> UsageState:
        """The in-memory usage fold."""
        ...

    @property
    def writer(self) -> RequestWriter:
        """The writer of usage events."""
        ...


class Allotments(Protocol):
    """Where a strict budget's allotment is topped up when this instance's share is short."""

    async def top_up(self, shortfall: Shortfall) -> bool:
        """True if more was granted (decide again), False if the whole budget is taken."""
        ...


class AllotmentShortError(GatewayError):
    """Only this instance's allotment is short: ask for more, then decide again."""

    def __init__(self, error: GatewayError, shortfall: Shortfall) -> None:
        super().__init__(
            error.status, error.code, error.message, error.param, error.level, error.headers
        )
        self.shortfall = shortfall


ALLOTMENT_WAIT_S = 2.0  # the most a request waits for allotments before it is answered


@dataclass(frozen=True)
class Limits:
    """The settings the request path reads."""

    max_body_bytes: int
    settle_timeout_s: float


def refusal_error(refusal: Refusal) -> GatewayError:
    """The one mapping of an admission refusal to the error a surface renders."""
    headers = {} if refusal.retry_after is None else {"retry-after": str(refusal.retry_after)}
    return GatewayError(
        refusal.status, refusal.code, refusal.message, level=refusal.level, headers=headers
    )


class Gateway:
    """Authentication, admission and settlement over small ports: governance (state,
    policies, prices), usage (the fold and its writer), one clock and one random source."""

    def __init__(
        self,
        governance: Governance,
        usage: Usage,
        clock: Clock,
        rng: random.Random,
        origin: Origin,
        limits: Limits,
        subjects: KeyRing | None = None,
        allotments: Allotments | None = None,
    ) -> None:
        self.allotments = allotments
        self.governance = governance
        self.subjects = subjects
        self.usage = usage
        self.clock = clock
        self.rng = rng
        self.origin = origin
        self.limits = limits
        self._header_rules: tuple[int, tuple[HeaderRule, ...]] = (-1, ())

    @property
    def max_body_bytes(self) -> int:
        """The largest request body a surface reads."""
        return self.limits.max_body_bytes

    def authenticate(self, call: Call) -> KeyPolicy:
        """The key's policy, or GatewayError 400 (required headers) or 401 (missing or unknown
        key); the required headers are checked first."""
        self.check_required_headers(call.headers)
        value = read_virtual_key(call.headers)
        if value is None:
            raise GatewayError(
                401, "virtual_key_required", "a virtual key is required", level="auth"
            )
        digest = hash_secret(value)
        state = self.governance.state
        key_id = state.key_by_hash.get(digest)
        policy = self.governance.policy(key_id) if key_id else None
        # The current value, or a rotated-out one still inside its grace period.
        if policy is None or not state.accepts(policy.key_id, digest, self.clock.now()):
            raise GatewayError(
                401, "virtual_key_not_found", "the virtual key is not recognised", level="auth"
            )
        return policy

    def authorize(self, call: Call) -> KeyPolicy:
        """`authenticate`, then `check_key`."""
        policy = self.authenticate(call)
        self.check_key(policy)
        return policy

    def check_key(self, policy: KeyPolicy) -> None:
        """GatewayError 403 if the key is disabled or expired now."""
        blocked = key_refusal(policy, self.clock.now())
        if blocked is not None:
            raise refusal_error(blocked)

    def check_required_headers(self, headers: Mapping[str, str]) -> None:
        """GatewayError 400 `missing_required_headers` naming every header that fails."""
        state = self.governance.state
        version = state.version("settings", SETTINGS_ID)
        if self._header_rules[0] != version:
            wanted = state.settings().get("required_headers", {})
            self._header_rules = (version, compile_rules(wanted, os.environ))
        missing = missing_headers(self._header_rules[1], headers)
        if missing:
            raise GatewayError(
                400,
                "missing_required_headers",
                f"required headers missing or not matching their rule: {', '.join(missing)}",
                param=",".join(missing),
                level="request",
            )

    def admit(self, call: Call, policy: KeyPolicy) -> Ticket:
        """Decide, reserve in memory and queue the admission event; GatewayError if refused."""
        writer = self.usage.writer
        if not writer.accepting():
            raise GatewayError(
                503,
                "ledger_unavailable",
                "the ledger cannot record requests right now; nothing was admitted",
                level="ledger",
            )
        now = self.clock.now()
        started = self.clock.monotonic()
        try:
            input_bound = input_token_bound(call.body, call.surface)
        except UnboundableInputError as error:
            raise GatewayError(400, "input_not_bounded", str(error), level="request") from None
        except ValueError as error:
            raise GatewayError(400, "invalid_request", str(error), level="request") from None
        prices = self.governance.prices

        def cost_of(route: Route) -> Decimal:
            model = route.upstream_model(call.model)  # priced as the provider is asked
            limit = max_output_tokens(route.provider_type, model)
            out = output_token_bound(call.body, call.surface, limit)
            bound = TokenUsage(input_bound, out)
            return prices.reservation_cost(route.provider_type, model, bound, now)

        try:
            output_bound = output_token_bound(call.body, call.surface, None)
            decision = admit(
                policy,
                self.usage.usage,
                call.model,
                call.pinned_provider,
                input_bound + output_bound,
                cost_of,
                now,
                self.rng,
            )
        except PriceUnknownError as error:
            raise GatewayError(
                400, "model_price_unknown", str(error), param="model", level="pricing"
            ) from None
        except ValueError as error:
            raise GatewayError(400, "invalid_request", str(error), level="request") from None
        if isinstance(decision, Refusal):
            if decision.shortfall is not None:
                raise AllotmentShortError(refusal_error(decision), decision.shortfall)
            raise refusal_error(decision)
        estimate = TokenUsage(input_bound, output_bound)
        held = Held(
            call.request_id, call.model, policy, decision, estimate, now, started, self.origin
        )
        event = ev.RequestAdmitted(
            originator_id=uuid.UUID(call.request_id),
            originator_version=1,
            timestamp=now,
            request_id=call.request_id,
            instance=self.origin.instance,
            incarnation=self.origin.incarnation,
            key_id=policy.key_id,
            team_id=policy.team_id,
            customer_id=policy.customer_id,
            surface=call.surface,
            model=call.model,
            provider=call.pinned_provider,
            reservations=stored(decision.reservations),
            rate=stored(decision.rate),
            estimate={"input": input_bound, "output": output_bound, "cost": decision.bound_cost},
            headers=self._recorded_headers(call),
            user_id=policy.user_id,
        )
        self.usage.usage.apply(event)
        # Never dropped: if the store cannot take it now, the writer keeps it (in order, ahead
        # of this request's settlement) and commits it when the store returns.
        writer.submit("usage", [event], _ignore, linger=True)
        return Ticket(call, held)

    async def admission(self, call: Call, policy: KeyPolicy) -> Ticket:
        """`admit`; while only this instance's allotment of a strict budget is short, ask for
        more (bounded in time) and decide again. 402 once the whole budget is taken."""
        deadline = self.clock.monotonic() + ALLOTMENT_WAIT_S
        while True:
            try:
                return self.admit(call, policy)
            except AllotmentShortError as short:
                left = deadline - self.clock.monotonic()
                if self.allotments is None or left <= 0:
                    raise GatewayError(
                        short.status, short.code, short.message, level=short.level
                    ) from None
                try:
                    granted = await asyncio.wait_for(self.allotments.top_up(short.shortfall), left)
                except TimeoutError:
                    raise GatewayError(
                        503,
                        "ledger_unavailable",
                        f"no budget allotment was granted within {ALLOTMENT_WAIT_S:g} s; "
                        "nothing was admitted",
                        level="ledger",
                    ) from None
                if not granted:  # decided once more: a Retry-After from the book just read
                    try:
                        return self.admit(call, policy)
                    except AllotmentShortError as again:
                        raise GatewayError(
                            again.status,
                            again.code,
                            again.message,
                            level=again.level,
                            headers=again.headers,
                        ) from None

    def _recorded_headers(self, call: Call) -> dict[str, str]:
        return self.recorded(call.headers)

    def recorded(self, headers: Mapping[str, str]) -> dict[str, str]:
        """The headers an event records, personal values sealed (keys from the cache)."""
        seal = self.subjects.seal if self.subjects is not None else None
        return recorded_headers(self.governance.state.settings(), headers, seal)

    async def prepare_subjects(self, headers: Mapping[str, str]) -> None:
        """Fetch or create the keys of a request's subjects before its events are written,
        off the event loop and bounded in time; a subject whose key cannot be had in time
        (the store is down) has its value withheld, never recorded in clear."""
        if self.subjects is None:
            return
        values = personal_values(self.governance.state.settings(), headers)
        if values:
            await self._prepare(self.subjects, values)

    @staticmethod
    async def _prepare(ring: KeyRing, values: Iterable[str]) -> None:
        missing = [value for value in values if not ring.has(value)]
        if not missing:
            return
        try:
            await asyncio.wait_for(asyncio.to_thread(ring.prepare, missing), SUBJECT_KEY_WAIT_S)
        except Exception as error:  # the value is withheld; the request goes on
            log.warning("a subject key is not available: %s", type(error).__name__)

    def reject(self, call: Call, error: GatewayError, key_id: str | None) -> None:
        """Record a refusal as an event (queued, not awaited: refusals hold nothing)."""
        event = ev.RequestRejected(
            originator_id=uuid.UUID(call.request_id),
            originator_version=1,
            timestamp=self.clock.now(),
            request_id=call.request_id,
            key_id=key_id,
            surface=call.surface,
            model=call.model,
            code=error.code,
            level=error.level,
            message=error.message,
            headers=self._recorded_headers(call),
        )
        self.usage.writer.submit("usage", [event], _ignore, linger=True)

    async def settle(self, ticket: Ticket, outcome: Outcome) -> Decimal:
        """Replace the reservation with the actual cost and await the commit; returns the cost."""
        if ticket.settled:
            return Decimal(0)
        ticket.settled = True
        if ticket.call.trace is not None:
            return await self._settle_traced(ticket, outcome, ticket.call.trace)
        event = self._settled(ticket, outcome)
        await self._commit(event)
        return event.cost

    def _settled(self, ticket: Ticket, outcome: Outcome) -> ev.RequestSettled:
        """The settlement decided at this instant, applied to the in-memory state."""
        now = Instant(self.clock.now(), self.clock.monotonic())
        event = settle(ticket.held, outcome, self.governance.prices, now)
        self.usage.usage.apply(event)
        return event

    async def _commit(self, event: ev.RequestSettled) -> None:
        """Await the settlement's commit for at most `settle_timeout_s`.

        CommitDeferredError if it is not committed in time: the event stays queued (or
        spooled) all the same, and the in-memory state already holds it.
        """
        if durability(self.governance.state.settings()) == "after_response":
            # Reserved and settled in memory already (budgets hold); committed by the next
            # group commit (which lingers as an admission does, so the commit's work falls
            # between responses, not ahead of this one), kept (spooled) if the store cannot
            # take it now.
            self.usage.writer.submit("usage", [event], _ignore, linger=True)
            return
        timeout = self.limits.settle_timeout_s
        try:
            await asyncio.wait_for(self.usage.writer.append("usage", [event]), timeout)
        except TimeoutError:
            raise CommitDeferredError(f"not committed within {timeout:g} s; kept") from None

    async def _settle_traced(
        self, ticket: Ticket, outcome: Outcome, trace: RequestTrace
    ) -> Decimal:
        """`settle` in a `settle` span, the commit's await in `ledger commit`; ends the trace."""
        try:
            with trace.span("settle") as span:
                event = self._settled(ticket, outcome)
                with trace.span("ledger commit", span):
                    await self._commit(event)
            route = outcome.route
            provider_type = route.provider_type if route is not None else None
            tokens = event.tokens
            trace.settled(
                outcome.status,
                provider_type,
                outcome.model,
                tokens["input"],
                tokens["output"],
                plain(event.cost),
            )
            return event.cost
        finally:
            trace.end()


def durability(settings: Mapping[str, Any]) -> Durability:
    """When settlements are committed: `before_response` (the default) or `after_response`."""
    ledger = settings.get("ledger") or {}
    return "after_response" if ledger.get("durability") == "after_response" else "before_response"


def _ignore(_error: BaseException | None, _ids: Any) -> None:
    return None
