"""Guardrails in the request flow: input before admission, plain answers, stream windows.

The decisions are pure (`policy`, `stream_window`); this module reads the policies from the
runtime's governance state, runs external checks with their timeouts, masks bodies and
queues one `GuardrailTriggered` event per decision (offsets, never the matched text).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from govledger.ledger import events as ev
from govledger.ledger.credentials import CredentialError, resolve_reference
from govledger.projections.policy import KeyPolicy
from govledger.proxy.flow.gateway import Call
from govledger.proxy.guardrails import external, text_slots
from govledger.proxy.guardrails.policy import (
    Clock,
    Policy,
    Triggered,
    Verdict,
    applicable,
    compile_policy,
    evaluate,
    redacted,
    sampled,
    unavailable,
)
from govledger.proxy.guardrails.stream_screen import StreamScreen
from govledger.proxy.guardrails.stream_window import WindowScan
from govledger.proxy.server.runtime import Runtime
from govledger.proxy.surfaces.errors import GatewayError

log = logging.getLogger("govledger.guardrails")
MAX_EVENTS = 100  # decisions recorded per request and direction; the rest are counted
USER_HEADER = "x-govledger-user"


def user_of(headers: Mapping[str, str], body: Mapping[str, Any]) -> str | None:
    """The request's user: the `x-govledger-user` header, OpenAI's `user`, Anthropic's
    `metadata.user_id`."""
    named = headers.get(USER_HEADER) or body.get("user")
    if not named and isinstance(body.get("metadata"), dict):
        named = body["metadata"].get("user_id")
    return named if isinstance(named, str) and named else None


def message(t: Triggered, direction: str) -> str:
    """The refusal's text: policy, category and check, never the matched text."""
    return (
        f"blocked by guardrail policy {t.policy!r}: {t.category} found by {t.check}"
        f" in the {direction}"
    )


def blocked_error(t: Triggered, direction: str) -> GatewayError:
    """The 400 `guardrail_blocked` of a blocked request or answer."""
    return GatewayError(
        400, "guardrail_blocked", message(t, direction), param=t.policy, level="guardrail"
    )


class Guardrails:
    """The gateway's guardrail policies, compiled per governance change."""

    def __init__(
        self,
        runtime: Runtime,
        rng: random.Random | None = None,
        clock: Clock = time.perf_counter,
    ) -> None:
        self.runtime = runtime
        self.rng = rng or random.Random()
        self.clock = clock
        self._compiled: tuple[int, list[Policy]] = (-1, [])
        self._session: aiohttp.ClientSession | None = None

    def policies(self) -> list[Policy]:
        """Every enabled policy, recompiled when governance changed."""
        generation = self.runtime.generation
        if self._compiled[0] != generation:
            live = self.runtime.state.live("guardrail")
            compiled = [
                compile_policy(pid, data)
                for pid, data in sorted(live.items())
                if data.get("enabled", True)
            ]
            self._compiled = (generation, compiled)
        return self._compiled[1]

    def running(
        self, key: KeyPolicy, headers: Mapping[str, str], body: Mapping[str, Any], direction: str
    ) -> list[Policy]:
        """The policies that run on this direction of this request."""
        every = self.policies()
        if not every:
            return []
        mine = applicable(every, key.key_id, key.team_id, key.customer_id, user_of(headers, body))
        return sampled(mine, direction, self.rng)

    async def check_input(self, call: Call, key: KeyPolicy) -> None:
        """Mask or refuse the request's text (GatewayError 400 `guardrail_blocked`)."""
        policies = self.running(key, call.headers, call.body, "input")
        if not policies:
            return
        found = text_slots.slots(call.body, text_slots.INPUT_ROOTS.get(call.surface, ()))
        text = text_slots.joined(found)
        verdict = await self._verdict(policies, text, "input")
        self.record(call, key.key_id, "input", verdict.triggered)
        blocked = verdict.blocked
        if blocked is not None:
            raise blocked_error(blocked, "input")
        if verdict.text != text:
            text_slots.write_back(found, _spans(verdict))

    async def check_answer(
        self, call: Call, key: KeyPolicy, raw: bytes
    ) -> tuple[bytes, GatewayError | None]:
        """A plain answer masked, or the refusal that replaces it."""
        policies = self.running(key, call.headers, call.body, "output")
        roots = text_slots.OUTPUT_ROOTS.get(call.surface)
        if not policies or not roots:
            return raw, None
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw, None
        found = text_slots.slots(obj, roots)
        text = text_slots.joined(found)
        verdict = await self._verdict(policies, text, "output")
        self.record(call, key.key_id, "output", verdict.triggered)
        blocked = verdict.blocked
        if blocked is not None:
            return raw, blocked_error(blocked, "output")
        if verdict.text == text:
            return raw, None
        text_slots.write_back(found, _spans(verdict))
        return orjson.dumps(obj), None

    def stream_screen(self, call: Call, key: KeyPolicy) -> StreamScreen | None:
        """The window screen of a streamed answer (built-in checks only), if any policy runs."""
        policies = self.running(key, call.headers, call.body, "output")
        if not policies:
            return None
        window = max(p.stream_window for p in policies)

        def judge(text: str) -> Verdict:
            return evaluate(policies, text, self.clock)

        def record(decisions: list[Triggered]) -> None:
            self.record(call, key.key_id, "output", decisions, streamed=True)

        return StreamScreen(
            call.surface, WindowScan(judge, window), record, lambda t: message(t, "output")
        )

    async def _verdict(self, policies: list[Policy], text: str, direction: str) -> Verdict:
        verdict = evaluate(policies, text, self.clock)
        externals = [(p, c) for p in policies for c in p.checks if c.detect is None]
        if not externals:
            return verdict
        results = await asyncio.gather(
            *(self._external(p, c.spec, text, direction) for p, c in externals)
        )
        for (policy, check), outcome in zip(externals, results, strict=True):
            if isinstance(outcome, str):
                verdict.triggered.append(unavailable(policy, check.type, outcome, len(text)))
                continue
            for category in outcome:
                verdict.triggered.append(
                    Triggered(policy.id, check.type, category, check.action, 0, len(text))
                )
        return redacted(verdict)

    async def _external(
        self, policy: Policy, spec: dict[str, Any], text: str, direction: str
    ) -> list[str] | str:
        """The categories an external check reports, or why it could not run."""
        try:
            return await asyncio.wait_for(self._ask(spec, text, direction), policy.timeout_s)
        except TimeoutError:
            return f"no answer within {policy.timeout_s:g} s"
        except (external.ExternalCheckError, CredentialError) as error:
            return str(error)

    async def _ask(self, spec: dict[str, Any], text: str, direction: str) -> list[str]:
        session = self._client()
        kind = spec["type"]
        threshold = spec.get("threshold")
        if kind == "external.openai_moderation":
            base_url, api_key = self._provider(spec["provider"])
            return await external.openai_moderation(session, base_url, api_key, text, threshold)
        if kind == "external.azure_content_safety":
            api_key = resolve_reference(spec["api_key"])
            return await external.azure_content_safety(
                session, spec["endpoint"], api_key, text, threshold
            )
        url = external.bedrock_url(
            spec["region"], spec["guardrail_id"], spec["guardrail_version"], spec.get("endpoint")
        )
        return await external.bedrock_guardrail(
            session,
            url,
            spec["region"],
            resolve_reference(spec["access_key_id"]),
            resolve_reference(spec["secret_access_key"]),
            text,
            direction,
        )

    def _provider(self, name: str) -> tuple[str, str]:
        data = self.runtime.state.get("provider", name)
        if data is None or not data.get("keys"):
            raise external.ExternalCheckError(f"no provider {name!r} with a key")
        key = data["keys"][0]
        if "value_ref" in key:
            secret = resolve_reference(key["value_ref"])
        else:
            secret = self.runtime.governance.box.decrypt(key["value_enc"])
        base = data.get("base_url") or "https://api.openai.com/v1"
        return str(base), secret

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(  # no cookie jar: shared by every tenant
                timeout=aiohttp.ClientTimeout(total=60), cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session

    async def close(self) -> None:
        """Close the external checks' HTTP pool."""
        if self._session is not None:
            await self._session.close()

    def record(
        self,
        call: Call,
        key_id: str | None,
        direction: str,
        decisions: list[Triggered],
        streamed: bool = False,
    ) -> None:
        """Queue one GuardrailTriggered per decision (at most MAX_EVENTS)."""
        if not decisions:
            return
        now = datetime.now(UTC)
        events = [
            ev.GuardrailTriggered(
                originator_id=uuid.uuid4(),
                originator_version=1,
                timestamp=now,
                request_id=call.request_id,
                key_id=key_id,
                surface=call.surface,
                model=call.model,
                direction=direction,
                policy=t.policy,
                check=t.check,
                category=t.category,
                action=t.action,
                start=t.start,
                end=t.end,
                streamed=streamed,
                detail=t.detail,
            )
            for t in decisions[:MAX_EVENTS]
        ]
        if len(decisions) > MAX_EVENTS:
            log.warning(
                "request %s: %d guardrail decisions, %d recorded",
                call.request_id,
                len(decisions),
                MAX_EVENTS,
            )
        self.runtime.writer.submit("usage", events, _ignore, linger=True)


def _spans(verdict: Verdict) -> list[tuple[int, int]]:
    return [(t.start, t.end) for t in verdict.triggered if t.action == "redact"]


def _ignore(*_: Any) -> None:
    return None
