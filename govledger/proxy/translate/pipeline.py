"""Any surface to any provider type: requests, responses and streams through the hub.

The hub is OpenAI chat completions. A request goes surface -> hub -> provider; a response
or stream comes provider -> hub -> surface. A surface served by its own vendor is never
translated (the bytes pass through).
"""

from __future__ import annotations

from typing import Any

import orjson

from govledger.proxy.translate import Json, UntranslatableError
from govledger.proxy.translate import anthropic_request as ar
from govledger.proxy.translate import anthropic_response as ap
from govledger.proxy.translate import gemini_request as gr
from govledger.proxy.translate import gemini_response as gp

SURFACE_VENDOR = {
    "openai_chat": "openai",
    "openai_responses": "openai",
    "openai_embeddings": "openai",
    "anthropic_messages": "anthropic",
    "gemini": "gemini",
}
CHAT_API = {"openai": "openai_chat", "anthropic": "anthropic_messages", "gemini": "gemini"}
_NAMES = {"openai_responses": "the Responses API", "openai_embeddings": "embeddings"}
Frame = tuple[bytes, bool]  # bytes for the client, and whether it is the stream's last event


def native_api(surface: str, provider_type: str) -> str:
    """The provider's API that serves a surface: the surface itself, or its chat API."""
    if SURFACE_VENDOR[surface] == provider_type:
        return surface
    if surface in _NAMES:
        raise UntranslatableError(_NAMES[surface], provider_type)
    return CHAT_API[provider_type]


def to_hub(surface: str, body: Json, model: str) -> Json:
    """A surface's request as a chat completions request."""
    if surface == "anthropic_messages":
        return ar.anthropic_to_chat(body)
    if surface == "gemini":
        return gr.gemini_to_chat(body, model)
    return body


def translate_request(
    surface: str, provider_type: str, body: Json, model: str, stream: bool, max_tokens: int
) -> Json:
    """The body to send to a provider for a surface's request (the model set as `model`)."""
    api = native_api(surface, provider_type)
    if api == surface:
        return body if api == "gemini" else {**body, "model": model}
    try:
        hub = {**to_hub(surface, body, model), "model": model}
    except UntranslatableError as error:  # named for the provider, not for the hub
        raise UntranslatableError(error.feature, provider_type) from None
    hub.pop("stream", None)
    if stream:
        hub["stream"] = True
    if provider_type == "anthropic":
        return ar.chat_to_anthropic(hub, model, max_tokens)
    if provider_type == "gemini":
        return gr.chat_to_gemini(hub)
    return hub


def translate_response(surface: str, api: str, obj: Json, model: str, created: int) -> Json:
    """A provider's whole response in the surface's format."""
    if api == surface:
        return obj
    if api == "anthropic_messages":
        hub = ap.message_to_completion(obj, created)
    elif api == "gemini":
        hub = gp.gemini_to_completion(obj, created, model)
    else:
        hub = obj
    if surface == "anthropic_messages":
        return ap.completion_to_message(hub)
    if surface == "gemini":
        return gp.completion_to_gemini(hub)
    return hub


def error_message(body: bytes) -> str:
    """The message of a vendor error body (any of the three shapes), else the raw text."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode(errors="replace")[:500]
    error = obj.get("error") if isinstance(obj, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return body.decode(errors="replace")[:500]


def hub_text_bytes(chunk: Json) -> int:
    """Bytes of text and tool arguments a chat chunk delivers."""
    total = 0
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        if isinstance(delta.get("content"), str):
            total += len(delta["content"].encode())
        for call in delta.get("tool_calls") or ():
            arguments = (call.get("function") or {}).get("arguments")
            if isinstance(arguments, str):
                total += len(arguments.encode())
    return total


def sse(data: Any, name: str | None = None) -> bytes:
    """One server-sent event (`event:` line only when named)."""
    head = b"event: " + name.encode() + b"\n" if name else b""
    return head + b"data: " + orjson.dumps(data) + b"\n\n"


class TranslatedStream:
    """A provider's stream events in, the surface's SSE frames out (its last one flagged)."""

    def __init__(
        self, surface: str, api: str, model: str, created: int, rid: str, wants_usage: bool
    ) -> None:
        self.surface = surface
        self.api = api
        self.wants_usage = wants_usage
        self.finished = False
        self.delivered_text_bytes = 0
        self.from_anthropic = ap.AnthropicToChat(created)
        self.from_gemini = gp.GeminiToChat(created, model)
        self.to_anthropic = ap.ChatToAnthropic("msg_" + rid, model)
        self.to_gemini = gp.ChatToGemini(rid, model)

    def feed(self, data: Json | None) -> list[Frame]:
        """Frames for one provider event (`None` is OpenAI's `[DONE]`)."""
        if self.finished:
            return []
        if data is None:
            return self._finish() if self.api == "openai_chat" else []
        if self.api == "anthropic_messages":
            frames = self._write(self.from_anthropic.feed(data))
            return frames + self._finish() if self.from_anthropic.done else frames
        if self.api == "gemini":
            return self._write(self.from_gemini.feed(data))
        return self._write([data])

    def end(self) -> list[Frame]:
        """Frames at the end of the provider's stream; none if it ended before its last event."""
        if self.finished or self.api != "gemini":
            return []
        return self._write(self.from_gemini.end()) + self._finish()

    def _write(self, chunks: list[Json]) -> list[Frame]:
        frames: list[Frame] = []
        for chunk in chunks:
            self.delivered_text_bytes += hub_text_bytes(chunk)
            if self.surface == "anthropic_messages":
                frames += [(sse(d, n), False) for n, d in self.to_anthropic.feed(chunk)]
            elif self.surface == "gemini":
                frames += [(sse(d), False) for d in self.to_gemini.feed(chunk)]
            elif self.wants_usage or chunk.get("choices") or "error" in chunk:
                frames.append((sse(chunk), False))
        return frames

    def _finish(self) -> list[Frame]:
        self.finished = True
        if self.surface == "anthropic_messages":
            return [(sse(d, n), n == "message_stop") for n, d in self.to_anthropic.end()]
        if self.surface == "gemini":
            return [(sse(d), True) for d in self.to_gemini.end()]
        return [(b"data: [DONE]\n\n", True)]
