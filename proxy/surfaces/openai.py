"""The OpenAI surface: chat completions, responses, embeddings and models.

Thin: parse the wire format into a Call, hand it to the gateway, map errors to OpenAI's
error body. No budget, limit or routing rule lives here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from proxy.admission import key_refusal
from proxy.cost import TokenUsage
from proxy.errors import GatewayError, JSONBytes, openai_error
from proxy.gateway import Call, Gateway, Outcome, Ticket
from proxy.idempotency import IdempotencyCache, Replay, Slot
from proxy.relay import StreamProgress, relay_sse
from proxy.upstream import AllAttemptsFailed, Answer, Upstream
from proxy.usage import READERS

log = logging.getLogger("govledger.openai")

REQUIRED = {"openai_chat": "messages", "openai_responses": "input", "openai_embeddings": "input"}
PATHS = {
    "openai_chat": "/chat/completions",
    "openai_responses": "/responses",
    "openai_embeddings": "/embeddings",
}


class OpenAISurface:
    """Handlers for the OpenAI wire format, bound to one gateway."""

    def __init__(self, gateway: Gateway, upstream: Upstream, idempotency: IdempotencyCache) -> None:
        self.gateway = gateway
        self.upstream = upstream
        self.idempotency = idempotency
        self.background: set[asyncio.Task[Any]] = set()

    def routes(self, prefix: str) -> list[Route]:
        """Routes mounted under a prefix (`/v1` and `/openai/v1`)."""

        def endpoint(surface: str) -> Any:
            async def handle(request: Request) -> Response:
                return await self.handle(request, surface)

            return handle

        return [
            Route(f"{prefix}/chat/completions", endpoint("openai_chat"), methods=["POST"]),
            Route(f"{prefix}/responses", endpoint("openai_responses"), methods=["POST"]),
            Route(f"{prefix}/embeddings", endpoint("openai_embeddings"), methods=["POST"]),
            Route(f"{prefix}/models", self.models, methods=["GET"]),
        ]

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def parse(self, request: Request, surface: str) -> Call:
        """Read and check the body; GatewayError 400/413 naming what is wrong."""
        limit = self.gateway.runtime.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise GatewayError(
                413, "request_too_large", f"the body is over {limit} bytes", level="request"
            )
        raw = await request.body()
        if len(raw) > limit:
            raise GatewayError(
                413, "request_too_large", f"the body is over {limit} bytes", level="request"
            )
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise GatewayError(
                400, "invalid_json", f"the body is not valid JSON: {error}", level="request"
            ) from None
        if not isinstance(body, dict):
            raise GatewayError(
                400, "invalid_request", "the body must be a JSON object", level="request"
            )
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise GatewayError(
                400,
                "missing_model",
                "`model` is required (a string)",
                param="model",
                level="request",
            )
        field = REQUIRED[surface]
        if field not in body or body[field] in (None, "", []):
            raise GatewayError(
                400, f"missing_{field}", f"`{field}` is required", param=field, level="request"
            )
        if surface == "openai_chat" and not isinstance(body["messages"], list):
            raise GatewayError(
                400,
                "invalid_messages",
                "`messages` must be a list",
                param="messages",
                level="request",
            )
        pinned, bare = None, model
        if "/" in model:
            head, rest = model.split("/", 1)
            if self.gateway.runtime.state.get("provider", head) is not None:
                pinned, bare = head, rest
        return Call(
            surface=surface,
            model=bare,
            body=body,
            stream=body.get("stream") is True and surface != "openai_embeddings",
            headers=request.headers,
            pinned_provider=pinned,
        )

    async def handle(self, request: Request, surface: str) -> Response:
        """One inference request, from body to settled response."""
        call: Call | None = None
        key_id: str | None = None
        replay: Slot | Replay | None = None
        try:
            call = await self.parse(request, surface)
            policy = self.gateway.authenticate(call)
            key_id = policy.key_id
            replay = self.idempotency.begin(
                request.headers.get("idempotency-key"), key_id, call.body
            )
            if isinstance(replay, Replay):
                return Response(
                    replay.body, replay.status, headers=replay.headers, media_type=replay.media_type
                )
            ticket = self.gateway.admit(call, policy)
        except GatewayError as error:
            self.idempotency.abandon(replay)  # refused: the key may be used again
            if call is None:  # the body was unreadable: record and answer under a fresh id
                call = Call(surface, "", {}, False, request.headers)
            self.gateway.reject(call, error, key_id)
            return openai_error(error, call.request_id)
        try:
            return await self.forward(ticket, replay)
        except GatewayError as error:
            self.idempotency.abandon(replay)
            return openai_error(error, call.request_id)

    async def forward(self, ticket: Ticket, replay: Any) -> Response:
        """Send upstream along the chain and settle; streams settle before their last event."""
        call = ticket.call
        body = dict(call.body)
        client_wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if call.stream and call.surface == "openai_chat":
            body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        try:
            answer = await self.upstream.send(
                ticket.admission.chain, PATHS[call.surface], body, call.model, self.gateway.rng
            )
        except AllAttemptsFailed as failed:
            attempts = [a.as_dict() for a in failed.attempts]
            await self._settle(
                ticket,
                Outcome(
                    "upstream_error",
                    "every upstream attempt failed",
                    None,
                    None,
                    call.model,
                    None,
                    attempts,
                ),
            )
            if failed.all_rate_limited:
                raise GatewayError(
                    429,
                    "upstream_rate_limited",
                    "every upstream provider is rate limiting",
                    level="upstream",
                ) from None
            raise GatewayError(
                502,
                "upstream_unavailable",
                "no upstream provider answered successfully",
                level="upstream",
            ) from None
        attempts = [a.as_dict() for a in answer.attempts]
        headers = {"x-govledger-request-id": call.request_id}
        if answer.response.status >= 400:
            raw = await answer.response.read()
            answer.response.release()
            outcome = Outcome(
                "upstream_error",
                f"upstream answered {answer.response.status}",
                None,
                answer.key.id,
                call.model,
                None,
                attempts,
            )
            await self._settle(ticket, outcome)
            self.idempotency.abandon(replay)
            headers["x-govledger-cost-usd"] = "0"
            return Response(
                raw, answer.response.status, headers=headers, media_type="application/json"
            )
        if call.stream and answer.response.content_type == "text/event-stream":
            return self._stream(ticket, answer, attempts, client_wants_usage, headers, replay)
        raw = await answer.response.read()
        answer.response.release()
        try:
            obj = orjson.loads(raw)
            if not isinstance(obj, dict):
                raise ValueError("not an object")
        except ValueError:
            outcome = Outcome(
                "upstream_error",
                "upstream answered a body that is not a JSON object",
                None,
                answer.key.id,
                call.model,
                None,
                attempts,
            )
            await self._settle(ticket, outcome)
            raise GatewayError(
                502,
                "upstream_bad_response",
                "the upstream provider answered with an unreadable body",
                level="upstream",
            ) from None
        usage = READERS[call.surface](obj.get("usage"))
        model = obj.get("model") if isinstance(obj.get("model"), str) else call.model
        outcome = Outcome(
            "ok", "", answer.route, answer.key.id, model or call.model, usage, attempts
        )
        cost = await self._settle(ticket, outcome)
        headers["x-govledger-cost-usd"] = str(cost)
        self.idempotency.finish(replay, 200, raw, headers, "application/json")
        return Response(raw, 200, headers=headers, media_type="application/json")

    async def _settle(self, ticket: Ticket, outcome: Outcome) -> Decimal:
        try:
            return await self.gateway.settle(ticket, outcome)
        except Exception as error:
            log.warning("settlement not committed: %s", str(error).splitlines()[0][:200])
            raise GatewayError(
                503,
                "ledger_unavailable",
                "the ledger cannot record this request; try again",
                level="ledger",
            ) from None

    def _stream(
        self,
        ticket: Ticket,
        answer: Answer,
        attempts: list[dict[str, Any]],
        client_wants_usage: bool,
        headers: dict[str, str],
        replay: Any,
    ) -> Response:
        call = ticket.call
        progress = StreamProgress()

        def outcome(status: str, reason: str, usage: TokenUsage | None) -> Outcome:
            if usage is None and status == "client_disconnected":
                usage = TokenUsage(
                    input=ticket.estimate.input,
                    output=min(progress.delivered_text_bytes, ticket.estimate.output),
                )
            return Outcome(status, reason, answer.route, answer.key.id, call.model, usage, attempts)

        async def settle(status: str, reason: str, usage: TokenUsage | None) -> str:
            cost = await self._settle(ticket, outcome(status, reason, usage))
            return f": govledger-cost-usd {cost}\n\n"

        def settle_later(status: str, reason: str, usage: TokenUsage | None) -> None:
            self._spawn(self.gateway.settle(ticket, outcome(status, reason, usage)))

        media = answer.response.headers.get("content-type", "text/event-stream")
        events = relay_sse(
            answer.response, call.surface, client_wants_usage, progress, settle, settle_later
        )
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

    async def models(self, request: Request) -> Response:
        """The models the caller's key may use, in OpenAI's list shape."""
        call = Call("openai_models", "", {}, False, request.headers)
        try:
            policy = self.gateway.authenticate(call)
            blocked = key_refusal(policy, datetime.now(UTC))
            if blocked is not None:
                raise GatewayError(
                    blocked.status, blocked.code, blocked.message, level=blocked.level
                )
        except GatewayError as error:
            return openai_error(error, call.request_id)
        seen: dict[str, str] = {}
        for route in policy.routes:
            models = set(route.allowed_models)
            for key in route.keys:
                models |= set(key.models)
            for model in sorted(models - {"*"}):
                if route.allows(model):  # named by the route or a key, usable only if both allow
                    seen.setdefault(f"{route.provider}/{model}", route.provider)
        data = [{"id": m, "object": "model", "created": 0, "owned_by": p} for m, p in seen.items()]
        headers = {"x-govledger-request-id": call.request_id}
        return JSONBytes({"object": "list", "data": data}, headers=headers)
