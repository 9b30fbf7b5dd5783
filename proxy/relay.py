"""Streaming relay: pass SSE events through as they arrive, read usage, hold back the end.

The last event (`data: [DONE]` for chat, `response.completed` for the Responses API) is
sent only after the request's settlement is committed to the ledger.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from proxy.cost import TokenUsage
from proxy.usage import from_openai_chat, from_openai_responses

Settle = Callable[[str, str, TokenUsage | None], Awaitable[str]]


@dataclass
class StreamProgress:
    """What a stream has delivered so far."""

    usage: TokenUsage | None = None
    delivered_text_bytes: int = 0
    finished: bool = False
    extra: list[bytes] = field(default_factory=list)


def _data(event: bytes) -> bytes | None:
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            return line[5:].strip()
    return None


def _text_bytes(obj: Any) -> int:
    total = 0
    for choice in obj.get("choices") or ():
        delta = choice.get("delta") or {}
        content = delta.get("content")
        if isinstance(content, str):
            total += len(content.encode())
        for call in delta.get("tool_calls") or ():
            arguments = (call.get("function") or {}).get("arguments")
            if isinstance(arguments, str):
                total += len(arguments.encode())
    delta_text = obj.get("delta")
    if isinstance(delta_text, str):
        total += len(delta_text.encode())
    return total


async def relay_sse(
    response: aiohttp.ClientResponse,
    surface: str,
    client_wants_usage: bool,
    progress: StreamProgress,
    settle: Settle,
    settle_later: Callable[[str, str, TokenUsage | None], None],
) -> AsyncIterator[bytes]:
    """Yield the upstream's events; settle before the final one; `settle` returns a cost line."""
    buffer = b""
    try:
        async for chunk in response.content.iter_any():
            buffer += chunk.replace(b"\r\n", b"\n")
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                data = _data(event)
                if data is None:
                    yield event + b"\n\n"
                    continue
                if data == b"[DONE]":
                    note = await settle("ok", "", progress.usage)
                    progress.finished = True
                    yield note.encode() + b"data: [DONE]\n\n"
                    continue
                try:
                    obj = orjson.loads(data)
                except orjson.JSONDecodeError:
                    obj = None
                if not isinstance(obj, dict):
                    yield event + b"\n\n"
                    continue
                progress.delivered_text_bytes += _text_bytes(obj)
                if surface == "openai_chat":
                    if obj.get("usage"):
                        progress.usage = from_openai_chat(obj["usage"])
                        if not client_wants_usage and not obj.get("choices"):
                            continue
                elif obj.get("type") == "response.completed":
                    progress.usage = from_openai_responses((obj.get("response") or {}).get("usage"))
                    note = await settle("ok", "", progress.usage)
                    progress.finished = True
                    yield note.encode() + event + b"\n\n"
                    continue
                if "error" in obj and surface == "openai_chat":
                    progress.extra.append(data)
                yield event + b"\n\n"
        if not progress.finished:
            reason = "upstream stream ended without its final event"
            note = await settle("upstream_error", reason, progress.usage)
            progress.finished = True
            yield note.encode()
    except (TimeoutError, aiohttp.ClientError) as error:
        if not progress.finished:
            progress.finished = True
            reason = f"upstream stream broke: {type(error).__name__}"
            note = await settle("upstream_error", reason, progress.usage)
            body = orjson.dumps(
                {"error": {"message": reason, "type": "api_error", "code": "upstream_error"}}
            )
            yield note.encode() + b"data: " + body + b"\n\n"
    finally:
        response.release()
        if not progress.finished:  # the client went away (cancelled or closed)
            progress.finished = True
            settle_later("client_disconnected", "client disconnected mid-stream", progress.usage)
