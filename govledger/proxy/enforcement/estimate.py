"""Tokenizer-free upper bounds of request tokens: every BPE/SentencePiece token covers at least
one UTF-8 byte, so model-visible text bytes plus framing constants bound the token count."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final, TypeAlias

SURFACES: Final = frozenset(
    {"openai_chat", "openai_responses", "openai_embeddings", "anthropic_messages", "gemini"}
)
MESSAGE_FRAMING_TOKENS: Final = 8
REQUEST_FRAMING_TOKENS: Final = 16
# Added once when tools are present: providers inject a tool-use system prompt (Anthropic ~350).
TOOL_PROMPT_TOKENS: Final = 512
# Added per typed client tool (bash, text editor, computer...) whose schema the provider supplies.
BUILTIN_TOOL_TOKENS: Final = 1_024
# Added per inline image/audio/file on top of its decoded byte length: image tokens depend on pixel
# size, not bytes (tiny or compressible images cost up to ~2.6k; gpt-4o-mini's 33x is not covered).
MEDIA_PART_TOKENS: Final = 4_096

# Keys whose values are not model-visible text (roles are covered by framing).
_SKIP: Final = frozenset(
    {"role", "type", "cache_control", "detail", "media_type", "mime_type", "mimeType"}
)
# Keys that are pure structure: their values count, their names do not.
_STRUCTURAL: Final = frozenset(
    {"content", "text", "parts", "tool_calls", "function", "name", "arguments", "output"}
)
# Keys whose mapping/list values are JSON handed to the model verbatim.
_JSON_PAYLOAD: Final = frozenset({"input", "args", "response", "parameters", "schema"})
# Server-side tools whose results are added to the input after the request is sent.
_SERVER_TOOLS: Final = ("web_search", "web_fetch", "file_search", "code_", "mcp", "image_gen")
# Gemini tool keys, lowercased without underscores (REST accepts camel and snake case).
_GEMINI_TOOLS: Final = ("googlesearch", "urlcontext", "codeexecution", "filesearch", "googlemaps")
# Request fields that pull server-held context into the prompt.
_STATEFUL_FIELDS: Final = {
    "openai_responses": ("previous_response_id", "conversation", "prompt"),
    "anthropic_messages": ("mcp_servers",),
    "gemini": ("cachedContent", "cached_content"),
    "openai_chat": ("web_search_options",),
}


# A path built lazily as nested (parent, key) pairs; rendered only for error messages.
_Path: TypeAlias = "str | tuple[_Path, str | int]"


class UnboundableInputError(ValueError):
    """The request carries content whose token count cannot be bounded without fetching it."""


def utf8_len(text: str) -> int:
    """UTF-8 byte length (lone surrogates count as 3 bytes)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def input_token_bound(body: Mapping[str, object], surface: str) -> int:
    """Safe upper bound of the input tokens the request will be billed for."""
    _check_surface(surface)
    for field in _STATEFUL_FIELDS.get(surface, ()):
        if body.get(field) is not None:
            raise UnboundableInputError(f"{field}: server-held context cannot be bounded")
    if surface == "openai_embeddings":
        return REQUEST_FRAMING_TOKENS + _embedding_input(body.get("input"))
    total = REQUEST_FRAMING_TOKENS + _tools(body.get("tools"), surface)
    if surface == "openai_chat":
        total += _messages(body.get("messages"), "messages", required=True)
        total += _json_fields(body, "functions", "response_format", "tool_choice")
    elif surface == "openai_responses":
        value = body.get("input")
        total += _messages(value, "input") if isinstance(value, list) else _walk(value, "input")
        if body.get("instructions") is not None:
            total += MESSAGE_FRAMING_TOKENS + _walk(body["instructions"], "instructions")
        total += _json_fields(body, "text", "tool_choice")
    elif surface == "anthropic_messages":
        total += _messages(body.get("messages"), "messages", required=True)
        if body.get("system") is not None:
            total += MESSAGE_FRAMING_TOKENS + _walk(body["system"], "system")
        total += _json_fields(body, "tool_choice")
    else:
        total += _messages(body.get("contents"), "contents", required=True)
        for key in ("systemInstruction", "system_instruction"):
            if body.get(key) is not None:
                total += MESSAGE_FRAMING_TOKENS + _walk(body[key], key)
        total += _json_fields(body, "toolConfig", "tool_config")
        config = body.get("generationConfig", body.get("generation_config"))
        if isinstance(config, Mapping):
            total += _json_fields(config, "responseSchema", "response_schema")
            total += _json_fields(config, "responseJsonSchema", "response_json_schema")
    return total


def output_token_bound(
    body: Mapping[str, object],
    surface: str,
    catalog_limit: int | None,
    fallback: int = 16_384,
) -> int:
    """Upper bound of output tokens (reasoning included): the request's cap, else the catalog's."""
    _check_surface(surface)
    if surface == "openai_embeddings":
        return 0
    if surface == "openai_chat":
        caps = [_int_field(body, "max_completion_tokens"), _int_field(body, "max_tokens")]
        choices = _int_field(body, "n")
    elif surface == "openai_responses":
        caps, choices = [_int_field(body, "max_output_tokens")], None
    elif surface == "anthropic_messages":
        cap = _int_field(body, "max_tokens")
        if cap is None:
            raise ValueError("max_tokens is required for anthropic_messages")
        caps, choices = [cap], None
    else:
        raw = body.get("generationConfig", body.get("generation_config"))
        config: Mapping[str, object] = raw if isinstance(raw, Mapping) else {}
        caps = [_int_field(config, "maxOutputTokens"), _int_field(config, "max_output_tokens")]
        choices = _int_field(config, "candidateCount") or _int_field(config, "candidate_count")
    present = [cap for cap in caps if cap is not None]
    limit = max(present) if present else (catalog_limit if catalog_limit is not None else fallback)
    return limit * max(choices or 1, 1)


def _check_surface(surface: str) -> None:
    if surface not in SURFACES:
        raise ValueError(f"unknown surface {surface!r}; expected one of {sorted(SURFACES)}")


def _int_field(body: Mapping[str, object], field: str) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{field} must be a non-negative integer, got {value!r}")
    return value


def _messages(value: object, where: str, required: bool = False) -> int:
    if value is None and not required:
        return 0
    if not isinstance(value, list):
        raise ValueError(f"{where} must be a list")
    return sum(MESSAGE_FRAMING_TOKENS + _walk(item, (where, i)) for i, item in enumerate(value))


def _embedding_input(value: object) -> int:
    if isinstance(value, str):
        return utf8_len(value)
    if not isinstance(value, list):
        raise ValueError("input must be a string or a list")
    if all(isinstance(item, int) for item in value):
        return len(value)  # already token ids
    return sum(_embedding_input(item) for item in value)


def _tools(value: object, surface: str) -> int:
    if not value:
        return 0
    if not isinstance(value, list):
        raise ValueError("tools must be a list")
    total = TOOL_PROMPT_TOKENS + _json_len(value)
    for i, tool in enumerate(value):
        if not isinstance(tool, Mapping):
            continue
        if surface == "gemini":
            for key in tool:
                if str(key).replace("_", "").lower().startswith(_GEMINI_TOOLS):
                    raise UnboundableInputError(f"tools[{i}].{key}: server-side tool results")
            continue
        kind = tool.get("type")
        if isinstance(kind, str) and kind.startswith(_SERVER_TOOLS):
            raise UnboundableInputError(f"tools[{i}] ({kind}): server-side tool results")
        if isinstance(kind, str) and kind not in ("function", "custom"):
            total += BUILTIN_TOOL_TOKENS
    return total


def _json_fields(body: Mapping[str, object], *fields: str) -> int:
    return sum(_json_len(body[f]) for f in fields if body.get(f) is not None)


def _json_len(value: object) -> int:
    return utf8_len(json.dumps(value, ensure_ascii=False, default=str))


def _walk(value: object, where: _Path) -> int:
    """Bytes of model-visible text in a message-like value; media parts bounded or rejected."""
    if isinstance(value, str):
        return utf8_len(value)
    if isinstance(value, list | tuple):
        return sum(_walk(item, (where, i)) for i, item in enumerate(value))
    if isinstance(value, dict | Mapping):
        total = 0
        for key, item in value.items():
            if item is None or key in _SKIP:
                continue
            if key in _MEDIA:
                total += _MEDIA[key](item, (where, key))
            elif key in _JSON_PAYLOAD and not isinstance(item, str):
                total += _json_len(item)
            else:
                named = 0 if key in _STRUCTURAL else utf8_len(str(key))
                total += named + _walk(item, (where, key))
        return total
    return 0 if value is None else _json_len(value)


def _fmt(where: _Path) -> str:
    """Render a lazily built path such as messages[0].content[1].image_url."""
    if isinstance(where, str):
        return where
    parent, key = where
    return f"{_fmt(parent)}[{key}]" if isinstance(key, int) else f"{_fmt(parent)}.{key}"


def _b64_len(data: object, where: _Path) -> int:
    """Decoded size bound of base64 text, computed without decoding."""
    if not isinstance(data, str):
        raise UnboundableInputError(f"{_fmt(where)}: expected base64 data")
    return -(-len(data) * 3 // 4) + MEDIA_PART_TOKENS


def _url_len(url: object, where: _Path) -> int:
    if not isinstance(url, str) or not url.startswith("data:"):
        raise UnboundableInputError(f"{_fmt(where)}: remote media cannot be bounded")
    header, _, payload = url.partition(",")
    if header.endswith(";base64"):
        return _b64_len(payload, where)
    return utf8_len(payload) + MEDIA_PART_TOKENS  # percent-encoding only shrinks on decoding


def _remote(_: object, where: _Path) -> int:
    raise UnboundableInputError(f"{_fmt(where)}: remote or server-held media cannot be bounded")


def _image_url(value: object, where: _Path) -> int:
    return _url_len(value.get("url") if isinstance(value, Mapping) else value, where)


def _inline(value: object, where: _Path) -> int:
    return _b64_len(value.get("data") if isinstance(value, Mapping) else None, where)


def _file_data(value: object, where: _Path) -> int:
    if isinstance(value, str):
        return _url_len(value, where) if value.startswith("data:") else _b64_len(value, where)
    return _remote(value, where)  # Gemini file_data is a {file_uri} reference


def _source(value: object, where: _Path) -> int:
    if not isinstance(value, Mapping):
        return _walk(value, where)  # search_result sources are plain strings
    kind = value.get("type")
    if kind == "base64":
        return _b64_len(value.get("data"), where)
    if kind == "text":
        return _walk(value.get("data"), where)
    if kind == "content":
        return _walk(value.get("content"), where)
    return _remote(value, where)


def _assistant_audio(value: object, where: _Path) -> int:
    return _remote(value, where) if isinstance(value, Mapping) else _walk(value, where)


_MEDIA: Final = {
    "image_url": _image_url,
    "input_audio": _inline,
    "inline_data": _inline,
    "inlineData": _inline,
    "file_data": _file_data,
    "fileData": _remote,
    "file_id": _remote,
    "file_url": _remote,
    "file_uri": _remote,
    "fileUri": _remote,
    "source": _source,
    "audio": _assistant_audio,
}
