"""Responses and streams between OpenAI chat completions (the hub) and Anthropic Messages."""

from __future__ import annotations

from typing import Any

import orjson

from govledger.proxy.translate import Json

STOP_TO_CHAT = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
FINISH_TO_ANTHROPIC = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
AnthropicEvent = tuple[str, Json]


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def usage_to_chat(usage: Any) -> Json:
    """Anthropic usage (input excludes cache) as chat usage (prompt includes cache)."""
    usage = usage if isinstance(usage, dict) else {}
    cached = _int(usage.get("cache_read_input_tokens"))
    written = _int(usage.get("cache_creation_input_tokens"))
    prompt = _int(usage.get("input_tokens")) + cached + written
    output = _int(usage.get("output_tokens"))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def usage_to_anthropic(usage: Any) -> Json:
    """Chat usage as Anthropic usage (cached prompt tokens reported as cache reads)."""
    usage = usage if isinstance(usage, dict) else {}
    cached = _int((usage.get("prompt_tokens_details") or {}).get("cached_tokens"))
    prompt = _int(usage.get("prompt_tokens"))
    return {
        "input_tokens": max(prompt - cached, 0),
        "output_tokens": _int(usage.get("completion_tokens")),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def _tool_call(block: Json) -> Json:
    arguments = orjson.dumps(block.get("input") or {}).decode()
    return {
        "id": block.get("id"),
        "type": "function",
        "function": {"name": block.get("name"), "arguments": arguments},
    }


def message_to_completion(message: Json, created: int) -> Json:
    """A chat completion for an Anthropic message (thinking blocks are not carried)."""
    texts = []
    calls = []
    for block in message.get("content") or ():
        if block.get("type") == "text":
            texts.append(block.get("text", ""))
        elif block.get("type") == "tool_use":
            calls.append(_tool_call(block))
    reply: Json = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": None,
    }
    if calls:
        reply["tool_calls"] = calls
    finish = STOP_TO_CHAT.get(str(message.get("stop_reason")), "stop")
    return {
        "id": message.get("id"),
        "object": "chat.completion",
        "created": created,
        "model": message.get("model"),
        "choices": [{"index": 0, "message": reply, "logprobs": None, "finish_reason": finish}],
        "usage": usage_to_chat(message.get("usage")),
    }


def _tool_input(arguments: Any) -> Json:
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def completion_to_message(completion: Json) -> Json:
    """An Anthropic message for a chat completion (its first choice)."""
    choices = completion.get("choices") or [{}]
    reply = choices[0].get("message") or {}
    content: list[Json] = []
    if reply.get("content"):
        content.append({"type": "text", "text": reply["content"]})
    for call in reply.get("tool_calls") or ():
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": function.get("name"),
                "input": _tool_input(function.get("arguments")),
            }
        )
    finish = choices[0].get("finish_reason")
    return {
        "id": completion.get("id"),
        "type": "message",
        "role": "assistant",
        "model": completion.get("model"),
        "content": content,
        "stop_reason": FINISH_TO_ANTHROPIC.get(str(finish), "end_turn"),
        "stop_sequence": None,
        "usage": usage_to_anthropic(completion.get("usage")),
    }


class AnthropicToChat:
    """Anthropic stream events in, chat completion chunks out; `done` after message_stop."""

    def __init__(self, created: int) -> None:
        self.created = created
        self.id: Any = None
        self.model: Any = None
        self.usage: Json = {}
        self.tools: dict[int, int] = {}
        self.done = False

    def _chunk(self, delta: Json, finish: str | None = None) -> Json:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [choice],
        }

    def feed(self, data: Json) -> list[Json]:
        """Chunks for one Anthropic event (its `type` names it)."""
        kind = data.get("type")
        if kind == "message_start":
            message = data.get("message") or {}
            self.id, self.model = message.get("id"), message.get("model")
            self.usage.update(message.get("usage") or {})
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            return self._block_start(_int(data.get("index")), data.get("content_block") or {})
        if kind == "content_block_delta":
            return self._delta(_int(data.get("index")), data.get("delta") or {})
        if kind == "message_delta":
            self.usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
            reason = (data.get("delta") or {}).get("stop_reason")
            return [self._chunk({}, STOP_TO_CHAT.get(str(reason), "stop"))]
        if kind == "message_stop":
            self.done = True
            usage = {**self._chunk({}), "choices": [], "usage": usage_to_chat(self.usage)}
            return [usage]
        if kind == "error":
            error = data.get("error") or {}
            return [{"error": {"message": error.get("message"), "type": error.get("type")}}]
        return []

    def _block_start(self, index: int, block: Json) -> list[Json]:
        if block.get("type") == "tool_use":
            position = self.tools[index] = len(self.tools)
            call = {
                "index": position,
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": ""},
            }
            return [self._chunk({"tool_calls": [call]})]
        if block.get("type") == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        return []

    def _delta(self, index: int, delta: Json) -> list[Json]:
        if delta.get("type") == "text_delta":
            return [self._chunk({"content": delta.get("text", "")})]
        if delta.get("type") == "input_json_delta" and index in self.tools:
            call = {
                "index": self.tools[index],
                "function": {"arguments": delta.get("partial_json")},
            }
            return [self._chunk({"tool_calls": [call]})]
        return []


class ChatToAnthropic:
    """Chat completion chunks in, Anthropic stream events out; `end` closes the message."""

    def __init__(self, message_id: str, model: str) -> None:
        self.message_id = message_id
        self.model = model
        self.started = False
        self.block: int | None = None
        self.blocks = 0
        self.tools: dict[int, int] = {}
        self.stop_reason = "end_turn"
        self.usage: Json = {}

    def _start(self, chunk: Json) -> list[AnthropicEvent]:
        if self.started:
            return []
        self.started = True
        message: Json = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": chunk.get("model") or self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return [("message_start", {"type": "message_start", "message": message})]

    def _close(self) -> list[AnthropicEvent]:
        if self.block is None:
            return []
        index, self.block = self.block, None
        return [("content_block_stop", {"type": "content_block_stop", "index": index})]

    def _open(self, block: Json) -> list[AnthropicEvent]:
        events = self._close()
        self.block = index = self.blocks
        self.blocks += 1
        start = {"type": "content_block_start", "index": index, "content_block": block}
        return [*events, ("content_block_start", start)]

    @staticmethod
    def _delta(index: int | None, delta: Json) -> AnthropicEvent:
        return (
            "content_block_delta",
            {"type": "content_block_delta", "index": index, "delta": delta},
        )

    def feed(self, chunk: Json) -> list[AnthropicEvent]:
        """Events for one chat chunk (an `error` item becomes an error event)."""
        if "error" in chunk:
            error = chunk.get("error") or {}
            body = {"type": "api_error", "message": str(error.get("message") or "upstream error")}
            return [("error", {"type": "error", "error": body})]
        events = self._start(chunk)
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in (chunk.get("choices") or [])[:1]:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                if self.block is None or self.block in self.tools.values():
                    events += self._open({"type": "text", "text": ""})
                text = {"type": "text_delta", "text": delta["content"]}
                events.append(self._delta(self.block, text))
            for call in delta.get("tool_calls") or ():
                events += self._tool_delta(call)
            if choice.get("finish_reason"):
                self.stop_reason = FINISH_TO_ANTHROPIC.get(choice["finish_reason"], "end_turn")
                events += self._close()
        return events

    def _tool_delta(self, call: Json) -> list[AnthropicEvent]:
        events: list[AnthropicEvent] = []
        position = _int(call.get("index"))
        function = call.get("function") or {}
        if position not in self.tools:
            block = {"type": "tool_use", "id": call.get("id"), "name": function.get("name")}
            events += self._open({**block, "input": {}})
            self.tools[position] = self.blocks - 1
        if function.get("arguments"):
            partial = {"type": "input_json_delta", "partial_json": function["arguments"]}
            events.append(self._delta(self.tools[position], partial))
        return events

    def end(self) -> list[AnthropicEvent]:
        """Close the open block, then message_delta (stop reason, usage) and message_stop."""
        events = [*self._start({}), *self._close()]
        delta = {"stop_reason": self.stop_reason, "stop_sequence": None}
        usage = usage_to_anthropic(self.usage)
        events.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
        events.append(("message_stop", {"type": "message_stop"}))
        return events
