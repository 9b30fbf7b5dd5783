"""A streamed answer's frames through the guardrail window, in the surface's own format.

Text-carrying events are held until the window after them is full, then sent masked; other
events keep their place behind them. A block drops what is held and ends the stream with
an error event in the surface's shape. Responses-API events that repeat the whole text
(`*.done`, `response.completed`) are rewritten with the masked text when anything was masked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from govledger.proxy.guardrails.policy import Triggered
from govledger.proxy.guardrails.stream_window import WindowScan
from govledger.proxy.translate.pipeline import Frame, sse

Record = Callable[[list[Triggered]], None]
_WHOLE_TEXT = frozenset(
    {
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    }
)


def text_slots(surface: str, obj: Any) -> list[tuple[Any, Any]]:
    """The (container, key) pairs of the text one client-format event carries."""
    if not isinstance(obj, dict):
        return []
    if surface == "openai_chat":
        return [
            (c["delta"], "content")
            for c in obj.get("choices") or ()
            if isinstance(c, dict)
            and isinstance(c.get("delta"), dict)
            and isinstance(c["delta"].get("content"), str)
        ]
    if surface == "openai_responses":
        ok = obj.get("type") == "response.output_text.delta" and isinstance(obj.get("delta"), str)
        return [(obj, "delta")] if ok else []
    if surface == "anthropic_messages":
        delta = obj.get("delta")
        if obj.get("type") != "content_block_delta" or not isinstance(delta, dict):
            return []
        return [(delta, "text")] if isinstance(delta.get("text"), str) else []
    found = []
    for candidate in obj.get("candidates") or ():
        for part in (candidate.get("content") or {}).get("parts") or ():
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                found.append((part, "text"))
    return found


def blocked_frame(surface: str, message: str) -> bytes:
    """The error event that ends a blocked stream (each SDK raises on it)."""
    if surface == "anthropic_messages":
        error = {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
        return sse(error, "error")
    if surface == "gemini":
        return sse({"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}})
    body = {"message": message, "type": "invalid_request_error", "code": "guardrail_blocked"}
    return sse({"error": body})


@dataclass
class _Held:
    lines: list[bytes]  # the event's lines; the data line is rebuilt if its text changed
    obj: Any
    slots: list[tuple[Any, Any]]
    final: bool


@dataclass
class StreamScreen:
    """Frames in, screened frames out; `stopped` says why a block ended the stream."""

    surface: str
    scan: WindowScan
    record: Record
    message: Callable[[Triggered], str]
    stopped: str | None = None
    queue: list[_Held] = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)
    masked: bool = False

    @property
    def withheld_text_bytes(self) -> int:
        """Text bytes received but not sent: held in the window, or dropped by a block."""
        return sum(len(piece.encode()) for piece in self.scan.held)

    def screen(self, frames: list[Frame], ending: bool = False) -> list[Frame]:
        """The frames that may be sent now."""
        if self.stopped is not None:
            return []
        out: list[Frame] = []
        for frame, final in frames:
            events = [e for e in frame.split(b"\n\n") if e.strip()]
            if not events and final:  # Gemini's end marker: flush, then pass it on
                out += self._flush(final=True)
                out.append((frame, final))
                continue
            for index, event in enumerate(events):
                last = final and index == len(events) - 1
                out += self._one(event, last)
                if self.stopped is not None:
                    return out
        if ending:
            out += self._flush(final=True)
        return out

    def _one(self, event: bytes, final: bool) -> list[Frame]:
        lines = event.split(b"\n")
        obj = _data_obj(lines)
        slots = text_slots(self.surface, obj)
        held = _Held(lines, obj, slots, final)
        whole = isinstance(obj, dict) and obj.get("type") in _WHOLE_TEXT
        self.queue.append(held)
        if slots:
            decisions = self.scan.push("".join(c[k] for c, k in slots))
            if decisions:
                self.record(decisions)
                self.masked = self.masked or any(d.action == "redact" for d in decisions)
            if self.scan.blocked is not None:
                self.queue.clear()
                self.stopped = self.message(self.scan.blocked)
                return [(blocked_frame(self.surface, self.stopped), True)]
        if final or whole:
            return self._flush(final=True)
        return self._flush(final=False)

    def _flush(self, final: bool) -> list[Frame]:
        if final:
            decisions = self.scan.finish()
            if decisions:
                self.record(decisions)
                self.masked = self.masked or any(d.action == "redact" for d in decisions)
            if self.scan.blocked is not None:
                self.queue.clear()
                self.stopped = self.message(self.scan.blocked)
                return [(blocked_frame(self.surface, self.stopped), True)]
        released = self.scan.release(final)
        out: list[Frame] = []
        while self.queue:
            held = self.queue[0]
            if held.slots:
                if not released:
                    break
                text = released.pop(0)
                self._write(held, text)
                self.delivered.append(text)
            elif self.masked and isinstance(held.obj, dict):
                self._rewrite_whole(held)
            self.queue.pop(0)
            out.append((b"\n".join(held.lines) + b"\n\n", held.final))
        return out

    def _write(self, held: _Held, text: str) -> None:
        offset, changed = 0, False
        for container, key in held.slots:
            length = len(container[key])
            piece = text[offset : offset + length]
            offset += length
            if piece != container[key]:
                container[key] = piece
                changed = True
        if changed:
            _set_data(held)

    def _rewrite_whole(self, held: _Held) -> None:
        """Responses events that repeat the whole text get the text as it was sent."""
        text = "".join(self.delivered)
        obj = held.obj
        kind = obj.get("type")
        if kind == "response.output_text.done":
            obj["text"] = text
        elif kind == "response.content_part.done" and isinstance(obj.get("part"), dict):
            obj["part"]["text"] = text
        elif kind == "response.output_item.done":
            _message_text(obj.get("item"), text)
        elif kind == "response.completed":
            for item in (obj.get("response") or {}).get("output") or ():
                _message_text(item, text)
        else:
            return
        _set_data(held)


def _message_text(item: Any, text: str) -> None:
    if isinstance(item, dict) and item.get("type") == "message":
        for part in item.get("content") or ():
            if isinstance(part, dict) and part.get("type") == "output_text":
                part["text"] = text


def _data_obj(lines: list[bytes]) -> Any:
    for line in lines:
        if line.startswith(b"data:"):
            payload = line[5:].strip()
            if payload == b"[DONE]":
                return None
            try:
                return orjson.loads(payload)
            except orjson.JSONDecodeError:
                return None
    return None


def _set_data(held: _Held) -> None:
    data = b"data: " + orjson.dumps(held.obj)
    held.lines = [data if line.startswith(b"data:") else line for line in held.lines]
