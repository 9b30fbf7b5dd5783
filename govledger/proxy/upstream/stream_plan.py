"""What a streamed answer sends the client, event by event: passed through or translated.

A `StreamPlan` reads each upstream SSE event once: the usage tracker sees it in the
provider's shape, then either the passthrough (same vendor) or the translated stream
(another vendor) turns it into frames for the client, flagging the stream's last event
so the relay can settle before sending it.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from govledger.proxy.translate import Json
from govledger.proxy.translate.pipeline import Frame, TranslatedStream, hub_text_bytes, sse
from govledger.proxy.upstream.vendor_usage import StreamUsage


def data_of(event: bytes) -> bytes | None:
    """The payload of an SSE event's first `data:` line."""
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            return line[5:].strip()
    return None


def native_text_bytes(api: str, obj: Json) -> int:
    """Bytes of text and tool arguments one provider event delivers."""
    if api == "openai_chat":
        return hub_text_bytes(obj)
    if api == "openai_responses":
        delta = obj.get("delta")
        return len(delta.encode()) if isinstance(delta, str) else 0
    if api == "anthropic_messages":
        delta = obj.get("delta") or {}
        text = delta.get("text") or delta.get("partial_json") or ""
        return len(text.encode()) if isinstance(text, str) else 0
    total = 0
    for candidate in obj.get("candidates") or ():
        for part in (candidate.get("content") or {}).get("parts") or ():
            if isinstance(part.get("text"), str):
                total += len(part["text"].encode())
    return total


def _final(api: str, obj: Any) -> bool:
    if not isinstance(obj, dict):
        return False
    if api == "openai_responses":
        return obj.get("type") == "response.completed"
    if api == "anthropic_messages":
        return obj.get("type") == "message_stop"
    if api == "gemini":
        return any(c.get("finishReason") for c in obj.get("candidates") or ())
    return False


class Passthrough:
    """A surface served by its own vendor: events go out as they came, usage-only chat
    chunks dropped unless the client asked for them."""

    def __init__(self, api: str, wants_usage: bool) -> None:
        self.api = api
        self.wants_usage = wants_usage
        self.finished = False
        self.delivered_text_bytes = 0

    def feed(self, event: bytes, data: bytes | None, obj: Any) -> list[Frame]:
        """Frames for one upstream event."""
        if self.api == "openai_chat" and data == b"[DONE]":
            self.finished = True
            return [(b"data: [DONE]\n\n", True)]
        if isinstance(obj, dict):
            self.delivered_text_bytes += native_text_bytes(self.api, obj)
            usage_only = obj.get("usage") and not obj.get("choices")
            if self.api == "openai_chat" and usage_only and not self.wants_usage:
                return []
        final = not self.finished and _final(self.api, obj)
        self.finished = self.finished or final
        return [(event + b"\n\n", final)]

    def end(self) -> list[Frame]:
        """A Gemini stream simply ends: settle then (nothing more to send)."""
        if self.api == "gemini" and not self.finished:
            self.finished = True
            return [(b"", True)]
        return []


def error_frame(surface: str, message: str) -> bytes:
    """A mid-stream error in the surface's shape (each SDK raises on it)."""
    if surface == "anthropic_messages":
        error = {"type": "error", "error": {"type": "api_error", "message": message}}
        return sse(error, "error")
    if surface == "gemini":
        return sse({"error": {"code": 502, "message": message, "status": "UNAVAILABLE"}})
    return sse({"error": {"message": message, "type": "api_error", "code": "upstream_error"}})


class Screen(Protocol):
    """What may reach the client of the frames a plan makes (the guardrails' window)."""

    stopped: str | None  # why the screen ended the stream, if it did

    @property
    def withheld_text_bytes(self) -> int:
        """Text bytes received but not sent (held in the window, or dropped by a block)."""
        ...

    def screen(self, frames: list[Frame], ending: bool = False) -> list[Frame]:
        """The frames to send now."""
        ...


class StreamPlan:
    """One streamed answer: usage in the provider's shape, frames in the surface's."""

    def __init__(
        self, surface: str, api: str, model: str, created: int, rid: str, wants_usage: bool
    ) -> None:
        self.surface = surface
        self.usage = StreamUsage(api)
        self.passthrough = Passthrough(api, wants_usage) if api == surface else None
        self.translated = TranslatedStream(surface, api, model, created, rid, wants_usage)
        self.screen: Screen | None = None

    @property
    def stopped(self) -> str | None:
        """Why a guardrail ended the stream (None while it runs)."""
        return None if self.screen is None else self.screen.stopped

    @property
    def delivered_text_bytes(self) -> int:
        """Text and tool-argument bytes sent to the client so far."""
        made = (self.passthrough or self.translated).delivered_text_bytes
        return made if self.screen is None else made - self.screen.withheld_text_bytes

    def feed(self, event: bytes) -> list[Frame]:
        """Frames for one upstream SSE event (without its blank line), screened."""
        frames = self._feed(event)
        return frames if self.screen is None else self.screen.screen(frames)

    def _feed(self, event: bytes) -> list[Frame]:
        data = data_of(event)
        obj: Any = None
        if data is not None and data != b"[DONE]":
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                obj = None
        if isinstance(obj, dict):
            self.usage.observe(obj)
        if self.passthrough is not None:
            return self.passthrough.feed(event, data, obj)
        if data == b"[DONE]":
            return self.translated.feed(None)
        return self.translated.feed(obj) if isinstance(obj, dict) else []

    def end(self) -> list[Frame]:
        """Frames once the upstream stream has ended, screened."""
        plan = self.passthrough if self.passthrough is not None else self.translated
        frames = plan.end()
        return frames if self.screen is None else self.screen.screen(frames, ending=True)

    def error(self, message: str) -> bytes:
        """The frame that reports a broken upstream stream to the client."""
        return error_frame(self.surface, message)
