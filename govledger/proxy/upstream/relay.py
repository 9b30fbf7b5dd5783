"""Streaming relay: send the client its frames as the upstream's events arrive, read usage,
and hold back the last event until the request's settlement is committed to the ledger.

Which event is last, and what the frames look like, is the `StreamPlan`'s business
(`data: [DONE]` for chat, `response.completed`, `message_stop`, Gemini's finishing chunk).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from govledger.proxy.enforcement.cost import TokenUsage
from govledger.proxy.surfaces.errors import GatewayError
from govledger.proxy.upstream.stream_plan import StreamPlan

Settle = Callable[[str, str, TokenUsage | None], Awaitable[bytes]]


@dataclass
class StreamProgress:
    """Whether the stream's outcome has been settled."""

    finished: bool = False


async def relay_sse(
    response: aiohttp.ClientResponse,
    plan: StreamPlan,
    progress: StreamProgress,
    settle: Settle,
    settle_later: Callable[[str, str, TokenUsage | None], None],
) -> AsyncIterator[bytes]:
    """Yield the client's frames; settle before the final one (`settle` returns a note)."""
    buffer = b""
    try:
        async for chunk in response.content.iter_any():
            buffer += chunk.replace(b"\r\n", b"\n")
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                for frame, final in plan.feed(event):
                    if final and not progress.finished:
                        note = await settle(*_ending(plan), plan.usage.usage)
                        progress.finished = True
                        frame = note + frame
                    if frame:
                        yield frame
                if plan.stopped is not None:  # a guardrail blocked the rest of the answer
                    return
        for frame, final in plan.end():
            if final and not progress.finished:
                note = await settle(*_ending(plan), plan.usage.usage)
                progress.finished = True
                frame = note + frame
            if frame:
                yield frame
        if not progress.finished:
            reason = "upstream stream ended without its final event"
            note = await settle("upstream_error", reason, plan.usage.usage)
            progress.finished = True
            if note:
                yield note
    except GatewayError as error:  # the settlement could not be confirmed (ledger outage)
        progress.finished = True
        yield plan.error(error.message)
    except (TimeoutError, aiohttp.ClientError) as error:
        if not progress.finished:
            progress.finished = True
            reason = f"upstream stream broke: {type(error).__name__}"
            try:
                note = await settle("upstream_error", reason, plan.usage.usage)
            except GatewayError as unconfirmed:
                note, reason = b"", f"{reason}; {unconfirmed.message}"
            yield note + plan.error(reason)
    finally:
        response.release()
        if not progress.finished:  # the client went away (cancelled or closed)
            progress.finished = True
            settle_later("client_disconnected", "client disconnected mid-stream", plan.usage.usage)


def _ending(plan: StreamPlan) -> tuple[str, str]:
    """The status and reason a stream settles with at its final frame."""
    if plan.stopped is not None:
        return "guardrail_blocked", plan.stopped
    return "ok", ""
