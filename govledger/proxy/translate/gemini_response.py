"""Responses and streams between OpenAI chat completions (the hub) and Gemini."""

from __future__ import annotations

from typing import Any

import orjson

from govledger.proxy.translate import Json
from govledger.proxy.translate.gemini_request import camel_keys

FINISH_TO_CHAT = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
FINISH_TO_GEMINI = {
    "stop": "STOP",
    "length": "MAX_TOKENS",
    "tool_calls": "STOP",
    "function_call": "STOP",
    "content_filter": "SAFETY",
}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def usage_to_chat(metadata: Any) -> Json:
    """usageMetadata as chat usage: tool-use prompt tokens are input, thoughts are output."""
    meta = camel_keys(metadata)
    prompt = _int(meta.get("promptTokenCount")) + _int(meta.get("toolUsePromptTokenCount"))
    thoughts = _int(meta.get("thoughtsTokenCount"))
    completion = _int(meta.get("candidatesTokenCount")) + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": _int(meta.get("cachedContentTokenCount"))},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def usage_to_gemini(usage: Any) -> Json:
    """Chat usage as usageMetadata (reasoning tokens reported as thoughts)."""
    usage = usage if isinstance(usage, dict) else {}
    prompt = _int(usage.get("prompt_tokens"))
    completion = _int(usage.get("completion_tokens"))
    reasoning = _int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens"))
    cached = _int((usage.get("prompt_tokens_details") or {}).get("cached_tokens"))
    out = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": max(completion - reasoning, 0),
        "totalTokenCount": prompt + completion,
    }
    if reasoning:
        out["thoughtsTokenCount"] = reasoning
    if cached:
        out["cachedContentTokenCount"] = cached
    return out


def _split_parts(content: Any, first_call: int) -> tuple[str, list[Json]]:
    texts: list[str] = []
    calls: list[Json] = []
    for raw in camel_keys(content).get("parts") or ():
        part = camel_keys(raw)
        if part.get("thought"):
            continue
        if "functionCall" in part:
            call = camel_keys(part["functionCall"])
            call_id = call.get("id") or f"call_{first_call + len(calls)}"
            arguments = orjson.dumps(call.get("args") or {}).decode()
            function = {"name": call.get("name"), "arguments": arguments}
            calls.append({"id": call_id, "type": "function", "function": function})
        elif isinstance(part.get("text"), str):
            texts.append(part["text"])
    return "".join(texts), calls


def _finish(reason: Any, has_calls: bool) -> str:
    if has_calls:
        return "tool_calls"
    return FINISH_TO_CHAT.get(str(reason), "stop")


def gemini_to_completion(response: Json, created: int, model: str) -> Json:
    """A chat completion for a GenerateContentResponse (one choice per candidate)."""
    body = camel_keys(response)
    choices = []
    for position, raw in enumerate(body.get("candidates") or ()):
        candidate = camel_keys(raw)
        text, calls = _split_parts(candidate.get("content"), 0)
        reply: Json = {
            "role": "assistant",
            "content": text or (None if calls else ""),
            "refusal": None,
        }
        if calls:
            reply["tool_calls"] = calls
        choices.append(
            {
                "index": candidate.get("index", position),
                "message": reply,
                "logprobs": None,
                "finish_reason": _finish(candidate.get("finishReason"), bool(calls)),
            }
        )
    if not choices:  # the prompt itself was blocked
        reply = {"role": "assistant", "content": "", "refusal": None}
        choices.append(
            {"index": 0, "message": reply, "logprobs": None, "finish_reason": "content_filter"}
        )
    return {
        "id": body.get("responseId"),
        "object": "chat.completion",
        "created": created,
        "model": body.get("modelVersion") or model,
        "choices": choices,
        "usage": usage_to_chat(body.get("usageMetadata")),
    }


def _parts(text: Any, calls: list[Json]) -> list[Json]:
    parts: list[Json] = [{"text": text}] if text else []
    for call in calls:
        function = call.get("function") or {}
        try:
            args = orjson.loads(function.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            args = {}
        parts.append({"functionCall": {"name": function.get("name"), "args": args}})
    return parts or [{"text": ""}]


def completion_to_gemini(completion: Json) -> Json:
    """A GenerateContentResponse for a chat completion (one candidate per choice)."""
    candidates = []
    for choice in completion.get("choices") or ():
        reply = choice.get("message") or {}
        candidates.append(
            {
                "content": {
                    "role": "model",
                    "parts": _parts(reply.get("content"), reply.get("tool_calls") or []),
                },
                "finishReason": FINISH_TO_GEMINI.get(str(choice.get("finish_reason")), "STOP"),
                "index": choice.get("index", 0),
            }
        )
    return {
        "candidates": candidates,
        "usageMetadata": usage_to_gemini(completion.get("usage")),
        "modelVersion": completion.get("model"),
        "responseId": completion.get("id"),
    }


class GeminiToChat:
    """Gemini stream chunks in, chat completion chunks out; the stream's end ends it."""

    def __init__(self, created: int, model: str) -> None:
        self.created = created
        self.model = model
        self.id: Any = None
        self.started = False
        self.calls = 0
        self.usage: Any = None

    def _chunk(self, choices: list[Json]) -> Json:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }

    def feed(self, data: Json) -> list[Json]:
        """Chunks for one Gemini chunk (an `error` object becomes an error item)."""
        if "error" in data:
            error = data.get("error") or {}
            return [{"error": {"message": error.get("message"), "type": error.get("status")}}]
        body = camel_keys(data)
        self.id = self.id or body.get("responseId")
        self.model = body.get("modelVersion") or self.model
        if body.get("usageMetadata"):
            self.usage = body["usageMetadata"]
        out = []
        if not self.started:
            self.started = True
            role = {"role": "assistant", "content": ""}
            out.append(self._chunk([{"index": 0, "delta": role, "finish_reason": None}]))
        for position, raw in enumerate(body.get("candidates") or ()):
            candidate = camel_keys(raw)
            index = candidate.get("index", position)
            text, calls = _split_parts(candidate.get("content"), self.calls)
            delta: Json = {}
            if text:
                delta["content"] = text
            if calls:
                delta["tool_calls"] = [
                    {"index": self.calls + i, **call} for i, call in enumerate(calls)
                ]
                self.calls += len(calls)
            reason = candidate.get("finishReason")
            finish = _finish(reason, self.calls > 0) if reason else None
            if delta or finish:
                out.append(self._chunk([{"index": index, "delta": delta, "finish_reason": finish}]))
        return out

    def end(self) -> list[Json]:
        """The usage chunk that closes the stream."""
        return [{**self._chunk([]), "usage": usage_to_chat(self.usage)}]


class ChatToGemini:
    """Chat completion chunks in, Gemini chunks out; function calls go out whole at the end."""

    def __init__(self, response_id: str, model: str) -> None:
        self.response_id = response_id
        self.model = model
        self.calls: dict[int, Json] = {}
        self.finish = "STOP"
        self.usage: Any = None

    def _chunk(self, parts: list[Json], final: bool) -> Json:
        candidate: Json = {"content": {"role": "model", "parts": parts}, "index": 0}
        out: Json = {"candidates": [candidate]}
        if final:
            candidate["finishReason"] = self.finish
            out["usageMetadata"] = usage_to_gemini(self.usage)
        out.update({"modelVersion": self.model, "responseId": self.response_id})
        return out

    def feed(self, chunk: Json) -> list[Json]:
        """Gemini chunks for one chat chunk (an `error` item becomes an error object)."""
        if "error" in chunk:
            message = str((chunk.get("error") or {}).get("message") or "upstream error")
            return [{"error": {"code": 500, "message": message, "status": "INTERNAL"}}]
        if chunk.get("model"):
            self.model = chunk["model"]
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        out = []
        for choice in (chunk.get("choices") or [])[:1]:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                out.append(self._chunk([{"text": delta["content"]}], False))
            for call in delta.get("tool_calls") or ():
                held = self.calls.setdefault(_int(call.get("index")), {"name": "", "arguments": ""})
                function = call.get("function") or {}
                held["name"] = function.get("name") or held["name"]
                held["arguments"] += function.get("arguments") or ""
            if choice.get("finish_reason"):
                self.finish = FINISH_TO_GEMINI.get(choice["finish_reason"], "STOP")
        return out

    def end(self) -> list[Json]:
        """The last chunk: whole function calls, the finish reason and the usage."""
        calls = [{"function": self.calls[i]} for i in sorted(self.calls)]
        return [self._chunk(_parts(None, calls), True)]
