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
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from govledger.ledger import events as ev
from govledger.ledger.config import credential_headers
from govledger.ledger.credentials import hash_secret
from govledger.ledger.entities import SETTINGS_ID
from govledger.ledger.loop_writer import CommitDeferredError
from govledger.ledger.money import plain
from govledger.projections.policy import KeyPolicy, Route
from govledger.proxy.enforcement.admission import Admission, Refusal, admit
from govledger.proxy.enforcement.cost import PriceUnknownError, TokenUsage, max_output_tokens
from govledger.proxy.enforcement.estimate import (
    UnboundableInputError,
    input_token_bound,
    output_token_bound,
)
from govledger.proxy.flow.required_headers import HeaderRule, compile_rules, missing_headers
from govledger.proxy.server.runtime import Runtime
from govledger.proxy.server.tracing import RequestTrace
from govledger.proxy.surfaces.errors import GatewayError
from govledger.proxy.upstream.vendor_usage import tokens_dict

log = logging.getLogger("govledger.gateway")


def recorded_headers(settings: Mapping[str, Any], headers: Mapping[str, str]) -> dict[str, str]:
    """The request headers the settings ask to record; credential headers never are
    (a store written before they were refused may still list one)."""
    wanted = settings.get("record_headers") or []
    if not wanted:
        return {}
    secret = credential_headers(settings)
    return {n: recorded_value(headers[n]) for n in wanted if n in headers and n not in secret}


KEY_HEADERS = ("x-bf-vk", "authorization", "x-api-key", "x-goog-api-key")
RECORDED_HEADER_BYTES = 256  # a recorded header value is cut to this many UTF-8 bytes


def recorded_value(value: str, limit: int = RECORDED_HEADER_BYTES) -> str:
    """A header value as an event records it: at most `limit` UTF-8 bytes, whole characters."""
    data = value.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return value
    return data[:limit].decode("utf-8", "ignore")


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
    """An admitted call: its policy, admission and the time it was admitted."""

    call: Call
    policy: KeyPolicy
    admission: Admission
    estimate: TokenUsage
    admitted_at: datetime
    started: float
    settled: bool = False


@dataclass
class Outcome:
    """How the upstream part ended, to be settled."""

    status: str  # ok | upstream_error | client_disconnected | failed
    reason: str
    route: Route | None
    provider_key_id: str | None
    model: str
    usage: TokenUsage | None
    attempts: list[dict[str, Any]]


class Gateway:
    """Authentication, admission and settlement over the runtime's in-memory state."""

    def __init__(self, runtime: Runtime, rng: random.Random | None = None) -> None:
        self.runtime = runtime
        self.rng = rng or random.Random()
        self._header_rules: tuple[int, tuple[HeaderRule, ...]] = (-1, ())

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
        key_id = self.runtime.state.key_by_hash.get(digest)
        policy = self.runtime.policy(key_id) if key_id else None
        # The current value, or a rotated-out one still inside its grace period.
        if policy is None or not self.runtime.state.accepts(policy.key_id, digest, _now()):
            raise GatewayError(
                401, "virtual_key_not_found", "the virtual key is not recognised", level="auth"
            )
        return policy

    def check_required_headers(self, headers: Mapping[str, str]) -> None:
        """GatewayError 400 `missing_required_headers` naming every header that fails."""
        version = self.runtime.state.version("settings", SETTINGS_ID)
        if self._header_rules[0] != version:
            wanted = self.runtime.state.settings().get("required_headers", {})
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
        if not self.runtime.writer.accepting():
            raise GatewayError(
                503,
                "ledger_unavailable",
                "the ledger cannot record requests right now; nothing was admitted",
                level="ledger",
            )
        now = datetime.now(UTC)
        try:
            input_bound = input_token_bound(call.body, call.surface)
        except UnboundableInputError as error:
            raise GatewayError(400, "input_not_bounded", str(error), level="request") from None
        except ValueError as error:
            raise GatewayError(400, "invalid_request", str(error), level="request") from None
        prices = self.runtime.prices

        def cost_of(route: Route) -> Decimal:
            model = route.upstream_model(call.model)  # priced as the provider is asked
            limit = max_output_tokens(route.provider_type, model)
            out = output_token_bound(call.body, call.surface, limit)
            return prices.reservation_cost(route.provider_type, model, TokenUsage(input_bound, out))

        try:
            output_bound = output_token_bound(call.body, call.surface, None)
            decision = admit(
                policy,
                self.runtime.usage,
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
            headers = {}
            if decision.retry_after is not None:
                headers["retry-after"] = str(decision.retry_after)
            raise GatewayError(
                decision.status,
                decision.code,
                decision.message,
                level=decision.level,
                headers=headers,
            )
        ticket = Ticket(
            call, policy, decision, TokenUsage(input_bound, output_bound), now, time.perf_counter()
        )
        event = ev.RequestAdmitted(
            originator_id=uuid.UUID(call.request_id),
            originator_version=1,
            timestamp=now,
            request_id=call.request_id,
            instance=self.runtime.settings.instance,
            incarnation=self.runtime.incarnation,
            key_id=policy.key_id,
            team_id=policy.team_id,
            customer_id=policy.customer_id,
            surface=call.surface,
            model=call.model,
            provider=call.pinned_provider,
            reservations=decision.reservations,
            rate=decision.rate,
            estimate={"input": input_bound, "output": output_bound, "cost": decision.bound_cost},
            headers=self._recorded_headers(call),
        )
        self.runtime.usage.apply(event)
        # Never dropped: if the store cannot take it now, the writer keeps it (in order, ahead
        # of this request's settlement) and commits it when the store returns.
        self.runtime.writer.submit("usage", [event], _ignore, linger=True)
        return ticket

    def _recorded_headers(self, call: Call) -> dict[str, str]:
        return recorded_headers(self.runtime.state.settings(), call.headers)

    def reject(self, call: Call, error: GatewayError, key_id: str | None) -> None:
        """Record a refusal as an event (queued, not awaited: refusals hold nothing)."""
        event = ev.RequestRejected(
            originator_id=uuid.UUID(call.request_id),
            originator_version=1,
            timestamp=datetime.now(UTC),
            request_id=call.request_id,
            key_id=key_id,
            surface=call.surface,
            model=call.model,
            code=error.code,
            level=error.level,
            message=error.message,
            headers=self._recorded_headers(call),
        )
        self.runtime.writer.submit("usage", [event], _ignore, linger=True)

    def cost(self, ticket: Ticket, outcome: Outcome) -> tuple[Decimal, str, TokenUsage]:
        """Actual cost of an outcome; with no usage reported, the reservation's bound is charged."""
        route = outcome.route
        if route is None:
            return Decimal(0), "none", TokenUsage()
        usage = outcome.usage
        if usage is None:
            if outcome.status == "ok" or outcome.status == "client_disconnected":
                usage = ticket.estimate
                price = self.runtime.prices.price(route.provider_type, outcome.model)
                return (
                    self.runtime.prices.reservation_cost(route.provider_type, outcome.model, usage),
                    (price.source + ":usage-missing-charged-bound"),
                    usage,
                )
            return Decimal(0), "none", TokenUsage()
        try:
            price = self.runtime.prices.price(route.provider_type, outcome.model)
            return (
                self.runtime.prices.cost(route.provider_type, outcome.model, usage),
                price.source,
                usage,
            )
        except PriceUnknownError:  # the upstream answered with another model name
            asked = route.upstream_model(ticket.call.model)
            price = self.runtime.prices.price(route.provider_type, asked)
            return (
                self.runtime.prices.cost(route.provider_type, asked, usage),
                price.source,
                usage,
            )

    async def settle(self, ticket: Ticket, outcome: Outcome) -> Decimal:
        """Replace the reservation with the actual cost and await the commit; returns the cost."""
        if ticket.settled:
            return Decimal(0)
        ticket.settled = True
        if ticket.call.trace is not None:
            return await self._settle_traced(ticket, outcome, ticket.call.trace)
        cost, source, usage = self.cost(ticket, outcome)
        event = self._settled_event(ticket, outcome, cost, source, usage)
        self.runtime.usage.apply(event)
        await self._commit(event)
        return cost

    async def _commit(self, event: ev.RequestSettled) -> None:
        """Await the settlement's commit for at most `settle_timeout_s`.

        CommitDeferredError if it is not committed in time: the event stays queued (or
        spooled) all the same, and the in-memory state already holds it.
        """
        timeout = self.runtime.settings.settle_timeout_s
        try:
            await asyncio.wait_for(self.runtime.writer.append("usage", [event]), timeout)
        except TimeoutError:
            raise CommitDeferredError(f"not committed within {timeout:g} s; kept") from None

    async def _settle_traced(
        self, ticket: Ticket, outcome: Outcome, trace: RequestTrace
    ) -> Decimal:
        """`settle` in a `settle` span, the commit's await in `ledger commit`; ends the trace."""
        try:
            with trace.span("settle") as span:
                cost, source, usage = self.cost(ticket, outcome)
                event = self._settled_event(ticket, outcome, cost, source, usage)
                self.runtime.usage.apply(event)
                with trace.span("ledger commit", span):
                    await self._commit(event)
            route = outcome.route
            provider_type = route.provider_type if route is not None else None
            trace.settled(
                outcome.status, provider_type, outcome.model, usage.input, usage.output, plain(cost)
            )
            return cost
        finally:
            trace.end()

    def _settled_event(
        self, ticket: Ticket, outcome: Outcome, cost: Decimal, source: str, usage: TokenUsage
    ) -> ev.RequestSettled:
        used = outcome.route
        keep = {b.id for b in ticket.policy.budgets}
        if used is not None:
            keep |= {b.id for b in used.budgets}
        charges = (
            [{**r, "amount": cost} for r in ticket.admission.reservations if r["budget"] in keep]
            if used is not None
            else []
        )
        actual_tokens = usage.input + usage.output
        estimate_tokens = ticket.estimate.input + ticket.estimate.output
        primary = ticket.admission.chain[0]
        primary_limits = {rule.id for rule in primary.rates}
        rate: list[dict[str, Any]] = []
        for item in ticket.admission.rate:
            if item["kind"] != "tokens":
                continue
            served = used is primary or item["limit"] not in primary_limits
            delta = (actual_tokens if served else 0) - estimate_tokens
            if delta:
                rate.append({**item, "amount": delta})
        if used is not None and used is not primary:
            for rule in used.rates:
                amount = 1 if rule.kind == "requests" else actual_tokens
                rate.append(
                    {
                        "limit": rule.id,
                        "kind": rule.kind,
                        "amount": amount,
                        "capacity": rule.capacity,
                        "window_s": rule.window_s,
                    }
                )
        return ev.RequestSettled(
            originator_id=uuid.UUID(ticket.call.request_id),
            originator_version=2,
            timestamp=datetime.now(UTC),
            request_id=ticket.call.request_id,
            instance=self.runtime.settings.instance,
            incarnation=self.runtime.incarnation,
            status=outcome.status,
            reason=outcome.reason,
            provider=used.provider if used else None,
            provider_key_id=outcome.provider_key_id,
            model=outcome.model,
            tokens=tokens_dict(usage),
            cost=cost,
            price_source=source,
            charges=charges,
            rate=rate,
            attempts=outcome.attempts,
            latency_ms=round((time.perf_counter() - ticket.started) * 1000, 3),
        )


def _ignore(_error: BaseException | None, _ids: Any) -> None:
    return None


def _now() -> datetime:
    return datetime.now(UTC)
