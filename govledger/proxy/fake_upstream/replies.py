"""Deterministic reply text, token counts and vendor-shaped bodies for the mock upstream.

Rules are documented in `proxy.mock_upstream`; everything here is pure and allocation-light.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any

import orjson

Json = dict[str, Any]

DEFAULT_REPLY = "Hello from the mock upstream."
_WORD_BOUNDARY = re.compile(r"(?<=\S)(?=\s)")


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply's text, its stream pieces and the token figures to report."""

    text: str
    pieces: tuple[str, ...]
    input_tokens: int
    output_tokens: int

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


@lru_cache(maxsize=1024)
def _pieces(text: str) -> tuple[str, ...]:
    """Split text into word pieces (leading whitespace kept) that join back to the text."""
    return tuple(_WORD_BOUNDARY.split(text)) if text else ("",)


def input_tokens(texts: list[str]) -> int:
    """max(1, ceil(total UTF-8 bytes / 4))."""
    total = sum(len(t.encode()) for t in texts)
    return max(1, -(-total // 4))


def make_reply(texts: list[str], last_user: str, cap: object) -> Reply:
    """Build the reply for the given prompt texts, last user text and optional token cap."""
    text = last_user[5:].strip() if last_user.startswith("echo:") else DEFAULT_REPLY
    return reply_of(texts, text, cap)


def reply_of(texts: list[str], text: str, cap: object, output: int | None = None) -> Reply:
    """A reply of a given text; output tokens are its words (or `output`) capped by `cap`."""
    words = len(text.split()) if output is None else output
    if isinstance(cap, int) and not isinstance(cap, bool):
        words = min(words, cap)
    return Reply(text, _pieces(text), input_tokens(texts), max(1, words))


def _is_str(obj: Json, key: str) -> bool:
    """Whether obj[key] exists and is a string."""
    return isinstance(obj.get(key), str)


def _part_texts(content: Any, types: tuple[str, ...]) -> list[str]:
    """Text of a content value that is a string or a list of typed text parts."""
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [
            p["text"]
            for p in content
            if isinstance(p, dict) and p.get("type") in types and _is_str(p, "text")
        ]
    return []


def _messages(messages: Any, types: tuple[str, ...]) -> tuple[list[str], str]:
    """All texts of role/content messages plus the last user message's text."""
    texts: list[str] = []
    last_user = ""
    for msg in messages if isinstance(messages, list) else ():
        if not isinstance(msg, dict):
            continue
        parts = _part_texts(msg.get("content"), types)
        texts.extend(parts)
        if msg.get("role") == "user":
            last_user = "".join(parts)
    return texts, last_user


def openai_chat_texts(body: Json) -> tuple[list[str], str]:
    """Texts and last user text of a chat completions request."""
    return _messages(body.get("messages"), ("text",))


def responses_texts(body: Json) -> tuple[list[str], str]:
    """Texts and last user text of a Responses request (instructions included)."""
    inp = body.get("input")
    if isinstance(inp, str):
        texts, last_user = [inp], inp
    else:
        texts, last_user = _messages(inp, ("input_text", "output_text", "text"))
    instructions = body.get("instructions")
    return ([instructions, *texts] if isinstance(instructions, str) else texts), last_user


def anthropic_texts(body: Json) -> tuple[list[str], str]:
    """Texts and last user text of a Messages request (system included)."""
    texts, last_user = _messages(body.get("messages"), ("text",))
    return _part_texts(body.get("system"), ("text",)) + texts, last_user


def gemini_texts(body: Json) -> tuple[list[str], str]:
    """Texts and last user text of a generateContent request (systemInstruction included)."""
    texts: list[str] = []
    last_user = ""
    blocks = [body.get("systemInstruction"), *(body.get("contents") or [])]
    for i, block in enumerate(blocks):
        if not isinstance(block, dict) or not isinstance(block.get("parts"), list):
            continue
        parts = [p["text"] for p in block["parts"] if isinstance(p, dict) and _is_str(p, "text")]
        texts.extend(parts)
        if i and block.get("role", "user") == "user":
            last_user = "".join(parts)
    return texts, last_user


def sse(data: Json) -> bytes:
    """One `data:` server-sent event."""
    return b"data: " + orjson.dumps(data) + b"\n\n"


def named_sse(event: str, data: Json) -> bytes:
    """One `event:` + `data:` server-sent event."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


# ---------------------------------------------------------------- OpenAI chat


def chat_usage(r: Reply) -> Json:
    """Chat completions usage object."""
    return {
        "prompt_tokens": r.input_tokens,
        "completion_tokens": r.output_tokens,
        "total_tokens": r.total_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def chat_completion(model: str, r: Reply, rid: str, created: int, call: Json | None = None) -> Json:
    """Non-streaming chat completion (a tool-calling assistant message when `call` is given)."""
    message: Json = call or {
        "role": "assistant",
        "content": r.text,
        "refusal": None,
        "annotations": [],
    }
    finish = "tool_calls" if call else "stop"
    return {
        "id": rid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": chat_usage(r),
        "service_tier": "default",
        "system_fingerprint": "fp_mock",
    }


def chat_frames(
    model: str,
    r: Reply,
    rid: str,
    created: int,
    include_usage: bool,
    call_deltas: list[Json] | None = None,
) -> list[bytes]:
    """Chat completion chunks as SSE frames, ending with [DONE] (tool-call deltas if given)."""
    head = {
        "id": rid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": "fp_mock",
    }

    def chunk(delta: Json, finish: str | None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        extra: Json = {"usage": None} if include_usage else {}
        return sse({**head, "choices": [choice], **extra})

    frames = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    if call_deltas:
        frames.extend(chunk(delta, None) for delta in call_deltas)
    else:
        frames.extend(chunk({"content": p}, None) for p in r.pieces)
    frames.append(chunk({}, "tool_calls" if call_deltas else "stop"))
    if include_usage:
        frames.append(sse({**head, "choices": [], "usage": chat_usage(r)}))
    frames.append(b"data: [DONE]\n\n")
    return frames


# ---------------------------------------------------------------- OpenAI embeddings


def embeddings(body: Json) -> Json:
    """Embeddings response: one 8-float vector per input, derived from a hash of the input."""
    raw = body.get("input")
    inputs: list[Any] = [raw] if isinstance(raw, str) or not isinstance(raw, list) else raw
    if inputs and all(isinstance(x, int) for x in inputs):
        inputs = [inputs]
    as_base64 = body.get("encoding_format") == "base64"
    data: list[Json] = []
    tokens = 0
    for i, item in enumerate(inputs):
        seed = item.encode() if isinstance(item, str) else orjson.dumps(item)
        tokens += input_tokens([item]) if isinstance(item, str) else max(1, len(item or ()))
        vector = [(b - 127.5) / 127.5 for b in hashlib.blake2b(seed, digest_size=8).digest()]
        value: Any = base64.b64encode(struct.pack("<8f", *vector)).decode() if as_base64 else vector
        data.append({"object": "embedding", "index": i, "embedding": value})
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": body.get("model", ""), "usage": usage}


# ---------------------------------------------------------------- OpenAI Responses


def response_object(body: Json, model: str, r: Reply, rid: str, created: int, done: bool) -> Json:
    """A Responses API response object, completed or (for response.created) in progress."""
    output: list[Json] = []
    usage: Json | None = None
    if done:
        output = [_message(rid, r.text)]
        usage = {
            "input_tokens": r.input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": r.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": r.total_tokens,
        }
    return {
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": "completed" if done else "in_progress",
        "model": model,
        "output": output,
        "usage": usage,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": {},
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
    }


def _message(rid: str, text: str | None) -> Json:
    """The assistant message output item, in progress (no text yet) or completed."""
    content = [] if text is None else [_output_text(text)]
    status = "in_progress" if text is None else "completed"
    return {
        "type": "message",
        "id": "msg_" + rid,
        "status": status,
        "role": "assistant",
        "content": content,
    }


def _output_text(text: str) -> Json:
    """An output_text content part."""
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def response_frames(body: Json, model: str, r: Reply, rid: str, created: int) -> list[bytes]:
    """The Responses API streaming event sequence as SSE frames."""
    loc = {"item_id": "msg_" + rid, "output_index": 0, "content_index": 0}
    state = partial(response_object, body, model, r, rid, created)
    events: list[tuple[str, Json]] = [
        ("response.created", {"response": state(False)}),
        ("response.in_progress", {"response": state(False)}),
        ("response.output_item.added", {"output_index": 0, "item": _message(rid, None)}),
        ("response.content_part.added", {**loc, "part": _output_text("")}),
    ]
    events.extend(
        ("response.output_text.delta", {**loc, "delta": p, "logprobs": []}) for p in r.pieces
    )
    events += [
        ("response.output_text.done", {**loc, "text": r.text, "logprobs": []}),
        ("response.content_part.done", {**loc, "part": _output_text(r.text)}),
        ("response.output_item.done", {"output_index": 0, "item": _message(rid, r.text)}),
        ("response.completed", {"response": state(True)}),
    ]
    return [
        named_sse(kind, {"type": kind, "sequence_number": n, **data})
        for n, (kind, data) in enumerate(events)
    ]


# ---------------------------------------------------------------- Anthropic


def anthropic_message(
    model: str, r: Reply, rid: str, done: bool = True, tool_use: Json | None = None
) -> Json:
    """A Messages API message (empty and unfinished for message_start; a tool_use block
    instead of text when given)."""
    block = tool_use or {"type": "text", "text": r.text}
    return {
        "id": rid,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [block] if done else [],
        "stop_reason": ("tool_use" if tool_use else "end_turn") if done else None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens if done else 1,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def anthropic_frames(model: str, r: Reply, rid: str, tool_use: Json | None = None) -> list[bytes]:
    """The Messages API streaming event sequence as SSE frames (a tool_use block if given)."""
    start: Json = {"type": "text", "text": ""}
    deltas: list[Json] = [{"type": "text_delta", "text": p} for p in r.pieces]
    if tool_use:
        start = {**tool_use, "input": {}}
        deltas = [
            {"type": "input_json_delta", "partial_json": orjson.dumps(tool_use["input"]).decode()}
        ]
    events: list[tuple[str, Json]] = [
        ("message_start", {"message": anthropic_message(model, r, rid, False)}),
        ("ping", {}),
        ("content_block_start", {"index": 0, "content_block": start}),
    ]
    events.extend(("content_block_delta", {"index": 0, "delta": d}) for d in deltas)
    stop = "tool_use" if tool_use else "end_turn"
    events += [
        ("content_block_stop", {"index": 0}),
        (
            "message_delta",
            {
                "delta": {"stop_reason": stop, "stop_sequence": None},
                # cumulative, as the API sends it: input and cache figures repeated
                "usage": {
                    "input_tokens": r.input_tokens,
                    "output_tokens": r.output_tokens,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                },
            },
        ),
        ("message_stop", {}),
    ]
    return [named_sse(kind, {"type": kind, **data}) for kind, data in events]


# ---------------------------------------------------------------- Gemini


def gemini_response(
    model: str, r: Reply, rid: str, text: str, out: int, final: bool, call: Json | None = None
) -> Json:
    """A GenerateContentResponse carrying `text` (or a functionCall part) and `out` output
    tokens so far."""
    part: Json = {"functionCall": call} if call else {"text": text}
    candidate: Json = {"content": {"parts": [part], "role": "model"}, "index": 0}
    if final:
        candidate["finishReason"] = "STOP"
    usage = {
        "promptTokenCount": r.input_tokens,
        "candidatesTokenCount": out,
        "totalTokenCount": r.input_tokens + out,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": r.input_tokens}],
    }
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": rid,
    }


def gemini_chunks(model: str, r: Reply, rid: str) -> list[Json]:
    """Streaming chunks: one per word piece, cumulative usage, finishReason on the last."""
    chunks: list[Json] = []
    words = 0
    last = len(r.pieces) - 1
    for i, piece in enumerate(r.pieces):
        words += len(piece.split())
        out = r.output_tokens if i == last else min(words, r.output_tokens)
        chunks.append(gemini_response(model, r, rid, piece, out, i == last))
    return chunks


# ---------------------------------------------------------------- errors

# status: (OpenAI type, OpenAI code, Anthropic type, Gemini status)
_ERRORS: dict[int, tuple[str, str | None, str, str]] = {
    400: ("invalid_request_error", None, "invalid_request_error", "INVALID_ARGUMENT"),
    429: ("requests", "rate_limit_exceeded", "rate_limit_error", "RESOURCE_EXHAUSTED"),
    500: ("server_error", None, "api_error", "INTERNAL"),
    503: ("server_error", "service_unavailable", "overloaded_error", "UNAVAILABLE"),
}


@lru_cache(maxsize=64)
def error_body(vendor: str, status: int, message: str) -> bytes:
    """An error body in the vendor's shape."""
    kind, code, anthropic_kind, gemini_status = _ERRORS[status]
    if vendor == "anthropic":
        err: Json = {"type": "error", "error": {"type": anthropic_kind, "message": message}}
    elif vendor == "gemini":
        err = {"error": {"code": status, "message": message, "status": gemini_status}}
    else:
        err = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return orjson.dumps(err)
