"""The request flow every surface shares: authenticate, offer MCP tools, admit, call the
chain, translate the answer into the surface's format and settle.

A surface only parses its wire format into a `Call` and renders errors in its own shape
(its `Dialect`); no budget, limit, routing or translation rule lives in a surface.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from govledger.ledger.commit_bookkeeping import DuplicateEventError
from govledger.ledger.loop_writer import CommitDeferredError
from govledger.ledger.money import plain
from govledger.projections.policy import KeyPolicy, ProviderKey, Route
from govledger.proxy.enforcement.cost import TokenUsage
from govledger.proxy.enforcement.settlement import Outcome
from govledger.proxy.flow.gateway import Call, Gateway, Ticket
from govledger.proxy.flow.idempotency import IdempotencyCache, Replay
from govledger.proxy.guardrails.enforce import Guardrails
from govledger.proxy.server import logs
from govledger.proxy.server.tracing import Tracing
from govledger.proxy.surfaces.bodies import CLIENT_DISCONNECTED
from govledger.proxy.surfaces.errors import GatewayError
from govledger.proxy.translate.pipeline import error_message, translate_response
from govledger.proxy.upstream.chain import AllAttemptsFailed, Answer, Attempt, Upstream
from govledger.proxy.upstream.providers import Prepared, prepare
from govledger.proxy.upstream.relay import StreamProgress, relay_sse
from govledger.proxy.upstream.stream_plan import StreamPlan
from govledger.proxy.upstream.vendor_usage import of_response

log = logging.getLogger("govledger.exchange")

ErrorBody = Callable[[GatewayError, str | None], Response]
Parse = Callable[[Request], Awaitable[Call]]
OfferTools = Callable[[Call, KeyPolicy], Awaitable[dict[str, Any]]]
_JSON = "application/json"
_UNTRACED = nullcontext()  # reused: with tracing off, no span (nor context) is made


@dataclass(frozen=True)
class Dialect:
    """What differs between surfaces once a request is parsed."""

    error: ErrorBody  # the surface's error body, carrying the request id
    cost_note: bool  # streams carry a `: govledger-cost-usd` comment (an SDK ignores it)
    id_header: str | None = None  # the vendor's own request-id header, if its SDK reads one


class Exchange:
    """Runs inference requests for every surface over one gateway and upstream pool."""

    def __init__(
        self,
        gateway: Gateway,
        upstream: Upstream,
        idempotency: IdempotencyCache,
        offer_tools: OfferTools | None = None,
        tracing: Tracing | None = None,
        guardrails: Guardrails | None = None,
    ) -> None:
        self.gateway = gateway
        self.upstream = upstream
        self.idempotency = idempotency
        self.offer_tools = offer_tools
        self.tracing = tracing or Tracing()
        self.guardrails = guardrails
        self.background: set[asyncio.Task[Any]] = set()

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def handle(
        self, request: Request, surface: str, parse: Parse, dialect: Dialect
    ) -> Response:
        """One inference request, from body to settled response."""
        call: Call | None = None
        key_id: str | None = None
        replay: Any = None
        try:
            call = await parse(request)
            logs.request_id.set(call.request_id)
            if self.tracing.enabled:  # the one check of the request path when tracing is off
                call.trace = self.tracing.request(call.surface, call.model)
                call.trace.request(call.model, call.body, call.request_id)
            trace = call.trace
            with trace.span("authenticate") if trace is not None else _UNTRACED:
                policy = self.gateway.authenticate(call)
            key_id = policy.key_id
            fingerprint = [call.surface, call.model, call.stream, call.body]
            replay = self.idempotency.begin(
                request.headers.get("idempotency-key"), key_id, fingerprint
            )
            if isinstance(replay, Replay):
                if trace is not None:
                    trace.end()
                return Response(
                    replay.body, replay.status, headers=replay.headers, media_type=replay.media_type
                )
            if self.offer_tools is not None and policy.mcp_configs:
                call.body = await self.offer_tools(call, policy)
            if self.guardrails is not None:
                await self.guardrails.check_input(call, policy)
            with trace.span("admit") if trace is not None else _UNTRACED:
                ticket = self.gateway.admit(call, policy)
        except Exception as raised:
            self.idempotency.abandon(replay)  # refused: the key may be used again
            if call is None:  # the body was unreadable: record and answer under a fresh id
                call = Call(surface, "", {}, False, request.headers)
                logs.request_id.set(call.request_id)
            error = self._refusal(raised, call)
            self.gateway.reject(call, error, key_id)
            if call.trace is not None:
                call.trace.refused(error.code, error.status)
                call.trace.end()
            return dialect.error(error, call.request_id)
        try:
            return await self.forward(ticket, replay, dialect)
        except GatewayError as error:
            self.idempotency.abandon(replay)
            return dialect.error(error, call.request_id)
        except Exception as raised:  # a defect: release the reservation at once, charge nothing
            log.exception("unexpected error on admitted request %s", call.request_id)
            self.idempotency.abandon(replay)
            reason = f"gateway error: {type(raised).__name__}"
            outcome = Outcome("failed", reason, None, None, call.model, None, [])
            try:
                await self._settle(ticket, outcome)
            except GatewayError as error:
                return dialect.error(error, call.request_id)
            return dialect.error(internal_error(call.request_id), call.request_id)

    @staticmethod
    def _refusal(raised: Exception, call: Call) -> GatewayError:
        """The error a refusal before admission answers; unexpected ones are logged as defects."""
        if isinstance(raised, GatewayError):
            if raised.code == CLIENT_DISCONNECTED:
                log.debug("request %s: %s", call.request_id, raised.message)
            return raised
        log.exception("unexpected error before admission of request %s", call.request_id)
        return internal_error(call.request_id)

    async def forward(self, ticket: Ticket, replay: Any, dialect: Dialect) -> Response:
        """Send along the chain and settle; streams settle before their last event."""
        call = ticket.call

        def prepared(route: Route, key: ProviderKey) -> Prepared:
            return prepare(
                call.surface,
                call.body,
                call.model,
                call.stream,
                call.headers,
                call.api_version,
                route,
                key.secret or "",
            )

        started_ns = time.time_ns() if call.trace is not None else 0
        try:
            answer = await self.upstream.send(
                ticket.admission.chain,
                call.model,
                self.gateway.rng,
                prepared,
                ticket.policy.routing == "adaptive",
            )
        except AllAttemptsFailed as failed:
            if call.trace is not None:
                self._trace_attempts(ticket, started_ns, failed.attempts)
            raise await self._failed(ticket, failed) from None
        if call.trace is not None:
            self._trace_attempts(ticket, started_ns, answer.attempts)
        attempts = [a.as_dict() for a in answer.attempts]
        headers = {"x-govledger-request-id": call.request_id}
        if dialect.id_header:
            headers[dialect.id_header] = call.request_id
        api = answer.prepared.api
        if answer.response.status >= 400:
            return await self._refused_upstream(ticket, answer, attempts, headers, replay, dialect)
        if call.stream and answer.response.content_type == "text/event-stream":
            return self._stream(ticket, answer, attempts, headers, replay, dialect)
        raw = await answer.response.read()
        answer.response.release()

        def outcome(status: str, reason: str, model: str, usage: TokenUsage | None) -> Outcome:
            route = answer.route if status == "ok" or usage is not None else None
            return Outcome(status, reason, route, answer.key.id, model, usage, attempts)

        try:
            obj = orjson.loads(raw)
            if not isinstance(obj, dict):
                raise ValueError("not an object")
        except ValueError:
            reason = "upstream answered a body that is not a JSON object"
            await self._settle(ticket, outcome("upstream_error", reason, call.model, None))
            raise _bad_response() from None
        usage = of_response(api, obj)
        named = obj.get("modelVersion" if api == "gemini" else "model")
        model = named if isinstance(named, str) and named else answer.prepared.model
        if api != call.surface:
            try:
                created = int(self.gateway.clock.now().timestamp())
                reply = translate_response(call.surface, api, obj, model, created)
            except (AttributeError, KeyError, TypeError, ValueError) as error:
                reason = f"upstream answer could not be translated: {type(error).__name__}"
                await self._settle(ticket, outcome("upstream_error", reason, model, usage))
                raise _bad_response() from None
            raw = orjson.dumps(reply)
        if self.guardrails is not None:
            raw, blocked = await self.guardrails.check_answer(call, ticket.policy, raw)
            if blocked is not None:  # the upstream's work is charged; nothing is sent
                await self._settle(
                    ticket, outcome("guardrail_blocked", blocked.message, model, usage)
                )
                raise blocked
        cost = await self._settle(ticket, outcome("ok", "", model, usage))
        headers["x-govledger-cost-usd"] = plain(cost)
        self.idempotency.finish(replay, 200, raw, headers, _JSON)
        return Response(raw, 200, headers=headers, media_type=_JSON)

    def _trace_attempts(self, ticket: Ticket, started_ns: int, attempts: Sequence[Attempt]) -> None:
        if ticket.call.trace is not None:
            types = {route.provider: route.provider_type for route in ticket.admission.chain}
            ticket.call.trace.attempts(started_ns, attempts, types)

    async def _failed(self, ticket: Ticket, failed: AllAttemptsFailed) -> GatewayError:
        call = ticket.call
        attempts = [a.as_dict() for a in failed.attempts]
        if failed.nothing_translatable:
            first = failed.untranslatable[0]
            outcome = Outcome("failed", str(first), None, None, call.model, None, attempts)
            await self._settle(ticket, outcome)
            return GatewayError(400, "feature_not_translatable", str(first), level="request")
        reason = "every upstream attempt failed"
        outcome = Outcome("upstream_error", reason, None, None, call.model, None, attempts)
        await self._settle(ticket, outcome)
        if failed.all_rate_limited:
            return GatewayError(
                429,
                "upstream_rate_limited",
                "every upstream provider is rate limiting",
                level="upstream",
            )
        return GatewayError(
            502,
            "upstream_unavailable",
            "no upstream provider answered successfully",
            level="upstream",
        )

    async def _refused_upstream(
        self,
        ticket: Ticket,
        answer: Answer,
        attempts: list[dict[str, Any]],
        headers: dict[str, str],
        replay: Any,
        dialect: Dialect,
    ) -> Response:
        """An upstream 4xx: a JSON body of the surface's own vendor passes through; anything
        else is wrapped in the surface's error shape."""
        call = ticket.call
        status = answer.response.status
        raw = await answer.response.read()
        answer.response.release()
        reason = f"upstream answered {status}"
        outcome = Outcome("upstream_error", reason, None, answer.key.id, call.model, None, attempts)
        await self._settle(ticket, outcome)
        self.idempotency.abandon(replay)
        headers["x-govledger-cost-usd"] = "0"
        if answer.prepared.api == call.surface and _json_object(raw):
            return Response(raw, status, headers=headers, media_type=_JSON)
        # Another vendor's body, or one that is not JSON (an HTML page from a proxy): wrapped
        # in the surface's shape, never passed on labelled as JSON.
        message = f"{answer.route.provider} answered {status}: {error_message(raw)}"
        error = GatewayError(status, "upstream_error", message, level="upstream", headers=headers)
        return dialect.error(error, call.request_id)

    async def _settle(self, ticket: Ticket, outcome: Outcome) -> Decimal:
        try:
            return await self.gateway.settle(ticket, outcome)
        except CommitDeferredError as error:  # an outage: the writer logs it once
            log.debug("settlement of %s deferred: %s", ticket.call.request_id, error)
            raise _unconfirmed() from None
        except DuplicateEventError as error:
            log.warning("settlement not committed: %s", str(error).splitlines()[0][:200])
            raise _unconfirmed() from None

    async def _settle_quietly(self, ticket: Ticket, outcome: Outcome) -> None:
        """Settle in the background (the client is gone); a deferred commit is no error."""
        with contextlib.suppress(CommitDeferredError, DuplicateEventError):
            await self.gateway.settle(ticket, outcome)

    def _stream(
        self,
        ticket: Ticket,
        answer: Answer,
        attempts: list[dict[str, Any]],
        headers: dict[str, str],
        replay: Any,
        dialect: Dialect,
    ) -> Response:
        call = ticket.call
        api = answer.prepared.api
        wants_usage = bool((call.body.get("stream_options") or {}).get("include_usage"))
        created = int(self.gateway.clock.now().timestamp())
        plan = StreamPlan(
            call.surface, api, answer.prepared.model, created, call.request_id, wants_usage
        )
        progress = StreamProgress()
        if self.guardrails is not None:
            plan.screen = self.guardrails.stream_screen(call, ticket.policy)

        headers_at = time.perf_counter()

        def outcome(status: str, reason: str, usage: TokenUsage | None) -> Outcome:
            if status == "ok" and attempts:  # route health: the stream after its first byte
                attempts[-1]["stream_ms"] = round((time.perf_counter() - headers_at) * 1000, 3)
            cut_short = status in ("client_disconnected", "guardrail_blocked") or (
                status == "upstream_error" and plan.delivered_text_bytes > 0
            )
            if usage is None and cut_short:  # charge what reached the client
                usage = TokenUsage(
                    input=ticket.estimate.input,
                    output=min(plan.delivered_text_bytes, ticket.estimate.output),
                )
            model = answer.prepared.model
            return Outcome(status, reason, answer.route, answer.key.id, model, usage, attempts)

        async def settle(status: str, reason: str, usage: TokenUsage | None) -> bytes:
            cost = await self._settle(ticket, outcome(status, reason, usage))
            return f": govledger-cost-usd {plain(cost)}\n\n".encode() if dialect.cost_note else b""

        def settle_later(status: str, reason: str, usage: TokenUsage | None) -> None:
            self._spawn(self._settle_quietly(ticket, outcome(status, reason, usage)))

        media = "text/event-stream"
        if api == call.surface:
            media = answer.response.headers.get("content-type", media)
        events = relay_sse(answer.response, plan, progress, settle, settle_later)
        if replay is not None:
            events = self._recorded(events, replay, headers, media)
        return StreamingResponse(events, status_code=200, headers=headers, media_type=media)

    async def _recorded(
        self, events: AsyncIterator[bytes], replay: Any, headers: dict[str, str], media: str
    ) -> AsyncIterator[bytes]:
        chunks = []
        try:
            async for chunk in events:
                chunks.append(chunk)
                yield chunk
            self.idempotency.finish(replay, 200, b"".join(chunks), headers, media)
        finally:
            self.idempotency.abandon(replay)  # no-op once finished; else the client went away


def _unconfirmed() -> GatewayError:
    return GatewayError(
        503,
        "ledger_unavailable",
        "the ledger cannot confirm this request right now; its charge is kept and will be"
        " recorded when the ledger returns",
        level="ledger",
    )


def _json_object(raw: bytes) -> bool:
    try:
        return isinstance(orjson.loads(raw), dict)
    except orjson.JSONDecodeError:
        return False


def internal_error(request_id: str) -> GatewayError:
    """The 500 of a defect: names the request id, says nothing was charged, not retried."""
    return GatewayError(
        500,
        "internal_error",
        f"the gateway failed on this request ({request_id}); nothing was charged",
        level="gateway",
        headers={"x-should-retry": "false"},
    )


def _bad_response() -> GatewayError:
    return GatewayError(
        502,
        "upstream_bad_response",
        "the upstream provider answered with an unreadable body",
        level="upstream",
    )
