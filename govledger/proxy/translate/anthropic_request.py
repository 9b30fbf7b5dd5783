"""Requests between OpenAI chat completions (the hub) and Anthropic Messages, both ways."""

from __future__ import annotations

from typing import Any

import orjson

from govledger.proxy.translate import Json, UntranslatableError, refuse_unknown, text_of

TO_ANTHROPIC = "anthropic"
TO_HUB = "openai"
ANTHROPIC_TEMPERATURE_MAX = 1.0

_CHAT_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "stream",
        "stream_options",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "user",
        "n",
        "response_format",
    }
)
_CHAT_MESSAGE_FIELDS = frozenset({"role", "content", "tool_calls", "tool_call_id", "refusal"})
_MESSAGES_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "temperature",
        "top_p",
        "stop_sequences",
        "stream",
        "tools",
        "tool_choice",
        "metadata",
        "thinking",
    }
)
# Prompt-caching hints change billing, not meaning; they are the one thing left behind.
_BLOCK_HINTS = frozenset({"cache_control", "citations"})


# --- OpenAI chat -> Anthropic ------------------------------------------------------------


def chat_to_anthropic(body: Json, model: str, default_max_tokens: int) -> Json:
    """An Anthropic Messages request for a chat completions request."""
    refuse_unknown(body, _CHAT_FIELDS, "", TO_ANTHROPIC)
    if body.get("n") not in (None, 1):
        raise UntranslatableError("`n` above 1", TO_ANTHROPIC)
    if (body.get("response_format") or {"type": "text"}).get("type") != "text":
        raise UntranslatableError("`response_format`", TO_ANTHROPIC)
    system, messages = _chat_messages(body.get("messages"))
    cap = body.get("max_completion_tokens") or body.get("max_tokens") or default_max_tokens
    out: Json = {"model": model, "messages": messages, "max_tokens": cap}
    if system:
        out["system"] = "\n\n".join(system)
    temperature = body.get("temperature")
    if temperature is not None:
        if temperature > ANTHROPIC_TEMPERATURE_MAX:
            raise UntranslatableError("`temperature` above 1", TO_ANTHROPIC)
        out["temperature"] = temperature
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    stop = body.get("stop")
    if stop is not None:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("stream") is True:
        out["stream"] = True
    if body.get("user") is not None:
        out["metadata"] = {"user_id": body["user"]}
    if body.get("tools"):
        out["tools"] = [_tool_to_anthropic(tool, i) for i, tool in enumerate(body["tools"])]
    choice = _choice_to_anthropic(body.get("tool_choice"), body.get("parallel_tool_calls"))
    if choice is not None:
        out["tool_choice"] = choice
    return out


def _chat_messages(messages: Any) -> tuple[list[str], list[Json]]:
    if not isinstance(messages, list):
        raise UntranslatableError("`messages` (not a list)", TO_ANTHROPIC)
    system: list[str] = []
    out: list[Json] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise UntranslatableError(f"{where} (not an object)", TO_ANTHROPIC)
        refuse_unknown(message, _CHAT_MESSAGE_FIELDS, where, TO_ANTHROPIC)
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(text_of(message.get("content"), f"{where}.content", TO_ANTHROPIC))
            continue
        if role == "user":
            blocks = _user_blocks(message.get("content"), f"{where}.content")
            _append(out, "user", blocks)
        elif role == "assistant":
            _append(out, "assistant", _assistant_blocks(message, where))
        elif role == "tool":
            result = {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id"),
                "content": text_of(message.get("content"), f"{where}.content", TO_ANTHROPIC),
            }
            _append(out, "user", [result])
        else:
            raise UntranslatableError(f"{where} (role {role!r})", TO_ANTHROPIC)
    return system, out


def _append(out: list[Json], role: str, blocks: list[Json]) -> None:
    """Anthropic alternates roles: a message of the same role as the last one joins it."""
    if out and out[-1]["role"] == role:
        out[-1]["content"].extend(blocks)
    else:
        out.append({"role": role, "content": blocks})


def _user_blocks(content: Any, where: str) -> list[Json]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise UntranslatableError(f"{where} (not text)", TO_ANTHROPIC)
    blocks = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif kind == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            blocks.append({"type": "image", "source": _image_source(url)})
        else:
            raise UntranslatableError(f"{where}[{index}] ({kind} part)", TO_ANTHROPIC)
    return blocks


def _image_source(url: str) -> Json:
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type = header[5:].split(";")[0]
        return {"type": "base64", "media_type": media_type, "data": data}
    return {"type": "url", "url": url}


def _assistant_blocks(message: Json, where: str) -> list[Json]:
    blocks: list[Json] = []
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(
            str(p.get("text") or p.get("refusal") or "") for p in content if isinstance(p, dict)
        )
    if content:
        blocks.append({"type": "text", "text": content})
    for index, call in enumerate(message.get("tool_calls") or ()):
        if call.get("type", "function") != "function":
            raise UntranslatableError(f"{where}.tool_calls[{index}]", TO_ANTHROPIC)
        function = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": function.get("name"),
                "input": _arguments(function.get("arguments")),
            }
        )
    if not blocks:
        blocks.append({"type": "text", "text": ""})
    return blocks


def _arguments(arguments: Any) -> Json:
    if isinstance(arguments, dict):
        return arguments
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _tool_to_anthropic(tool: Json, index: int) -> Json:
    if tool.get("type") != "function":
        raise UntranslatableError(f"tools[{index}] ({tool.get('type')})", TO_ANTHROPIC)
    function = tool.get("function") or {}
    if function.get("strict"):
        raise UntranslatableError(f"tools[{index}].function.strict", TO_ANTHROPIC)
    out: Json = {
        "name": function.get("name"),
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        out["description"] = function["description"]
    return out


def _choice_to_anthropic(choice: Any, parallel: Any) -> Json | None:
    if choice is None:
        out: Json | None = None
    elif choice == "auto":
        out = {"type": "auto"}
    elif choice == "none":
        out = {"type": "none"}
    elif choice == "required":
        out = {"type": "any"}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        out = {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    else:
        raise UntranslatableError("`tool_choice`", TO_ANTHROPIC)
    if parallel is False:
        out = out or {"type": "auto"}
        if out["type"] != "none":
            out["disable_parallel_tool_use"] = True
    return out


# --- Anthropic -> OpenAI chat ------------------------------------------------------------


def anthropic_to_chat(body: Json) -> Json:
    """A chat completions request for an Anthropic Messages request."""
    refuse_unknown(body, _MESSAGES_FIELDS, "", TO_HUB)
    thinking = body.get("thinking")
    if thinking is not None and thinking.get("type") != "disabled":
        raise UntranslatableError("`thinking`", TO_HUB)
    metadata = body.get("metadata") or {}
    refuse_unknown(metadata, frozenset({"user_id"}), "metadata", TO_HUB)
    messages: list[Json] = []
    system = body.get("system")
    if system:
        text = system if isinstance(system, str) else _block_text(system, "system")
        messages.append({"role": "system", "content": text})
    for index, message in enumerate(body.get("messages") or ()):
        messages.extend(_to_chat_messages(message, f"messages[{index}]"))
    out: Json = {"model": body.get("model"), "messages": messages}
    if body.get("max_tokens") is not None:
        out["max_completion_tokens"] = body["max_tokens"]
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            out[name] = body[name]
    if body.get("stop_sequences"):
        out["stop"] = list(body["stop_sequences"])
    if body.get("stream") is True:
        out["stream"] = True
    if metadata.get("user_id") is not None:
        out["user"] = metadata["user_id"]
    if body.get("tools"):
        out["tools"] = [_tool_to_chat(tool, i) for i, tool in enumerate(body["tools"])]
    choice = body.get("tool_choice")
    if choice is not None:
        kind = choice.get("type")
        mapped = {"auto": "auto", "any": "required", "none": "none"}.get(kind)
        if kind == "tool":
            out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
        elif mapped is not None:
            out["tool_choice"] = mapped
        else:
            raise UntranslatableError(f"`tool_choice` ({kind})", TO_HUB)
        if choice.get("disable_parallel_tool_use"):
            out["parallel_tool_calls"] = False
    return out


def _block_text(blocks: Any, where: str) -> str:
    if isinstance(blocks, list):
        blocks = [
            {k: v for k, v in b.items() if k not in _BLOCK_HINTS} if isinstance(b, dict) else b
            for b in blocks
        ]
    return text_of(blocks, where, TO_HUB)


def _to_chat_messages(message: Json, where: str) -> list[Json]:
    role = message.get("role")
    content = message.get("content")
    if role not in ("user", "assistant"):
        raise UntranslatableError(f"{where} (role {role!r})", TO_HUB)
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise UntranslatableError(f"{where}.content", TO_HUB)
    if role == "assistant":
        return [_assistant_to_chat(content, where)]
    tools: list[Json] = []
    parts: list[Json] = []
    for index, block in enumerate(content):
        at = f"{where}.content[{index}]"
        kind = block.get("type")
        if kind == "tool_result":
            tools.append(_tool_result(block, at))
        elif kind == "text":
            parts.append({"type": "text", "text": block.get("text", "")})
        elif kind == "image":
            parts.append({"type": "image_url", "image_url": {"url": _image_url(block, at)}})
        else:
            raise UntranslatableError(f"{at} ({kind} block)", TO_HUB)
    if not parts:
        return tools
    if all(p["type"] == "text" for p in parts):
        return [*tools, {"role": "user", "content": "".join(p["text"] for p in parts)}]
    return [*tools, {"role": "user", "content": parts}]


def _assistant_to_chat(content: list[Any], where: str) -> Json:
    texts: list[str] = []
    calls: list[Json] = []
    for index, block in enumerate(content):
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": arguments},
                }
            )
        else:
            raise UntranslatableError(f"{where}.content[{index}] ({kind} block)", TO_HUB)
    out: Json = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        out["tool_calls"] = calls
    return out


def _tool_result(block: Json, where: str) -> Json:
    content = block.get("content")
    text = content if isinstance(content, str) else _block_text(content, f"{where}.content")
    if block.get("is_error"):
        text = f"Error: {text}"
    return {"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": text}


def _image_url(block: Json, where: str) -> str:
    source = block.get("source") or {}
    if source.get("type") == "base64":
        return f"data:{source.get('media_type')};base64,{source.get('data')}"
    if source.get("type") == "url":
        return str(source.get("url"))
    raise UntranslatableError(f"{where}.source ({source.get('type')})", TO_HUB)


def _tool_to_chat(tool: Json, index: int) -> Json:
    if tool.get("type") not in (None, "custom"):
        raise UntranslatableError(f"tools[{index}] ({tool.get('type')})", TO_HUB)
    function: Json = {
        "name": tool.get("name"),
        "parameters": tool.get("input_schema") or {"type": "object", "properties": {}},
    }
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}
