"""Deterministic tool calls and structured output of the fake upstream (pure).

Rules (the same for the three vendors):
- a tool is called when the request forces one (OpenAI `tool_choice` naming a function or
  `required`, Anthropic `{"type": "tool"|"any"}`, Gemini mode `ANY`), or when tools are
  offered and the last user text starts with `tool:`; never when the last message is a tool
  result and the choice is not forced, nor when the choice is `none`.
- which tool: the named one; else under `tool: NAME ...` the tool called NAME; else after a
  tool result (forced choice) the last tool offered, otherwise the first.
- arguments: the JSON object after `tool: [NAME]` if the text holds one, else an instance
  of the tool's parameter schema (`schema_instance`).
- after a tool result the reply text is `Tool said: <the result's text>`.
- a JSON-schema response format (OpenAI `response_format` json_schema, Anthropic
  `output_format`, Gemini `responseJsonSchema`/`responseSchema`) makes the reply text the
  schema's instance as compact JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

Json = dict[str, Any]
TOOL_PREFIX = "tool:"
AFTER_TOOL = "Tool said: "


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The call the fake model makes: a tool name and its arguments."""

    name: str
    arguments: Json

    @property
    def arguments_json(self) -> str:
        """The arguments as compact JSON text."""
        return orjson.dumps(self.arguments).decode()

    @property
    def output_tokens(self) -> int:
        """max(1, ceil(bytes of the arguments' JSON / 4))."""
        return max(1, -(-len(self.arguments_json.encode()) // 4))


def schema_instance(schema: Any, defs: Json | None = None, depth: int = 0) -> Any:
    """A deterministic value valid against a (JSON or Gemini) schema: every property set,
    one array item, the first enum value or union member, strings `mock`, numbers 1."""
    if not isinstance(schema, dict) or depth > 12:
        return None
    defs = {**(defs or {}), **schema.get("$defs", {}), **schema.get("definitions", {})}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return schema_instance(defs.get(ref.rsplit("/", 1)[-1]), defs, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for union in ("anyOf", "oneOf", "allOf"):
        options = [o for o in schema.get(union) or () if _kind(o) != "null"]
        if options:
            return schema_instance(options[0], defs, depth + 1)
    kind = _kind(schema)
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties") or {}
        return {name: schema_instance(sub, defs, depth + 1) for name, sub in props.items()}
    if kind == "array":
        count = max(1, int(schema.get("minItems") or schema.get("min_items") or 1))
        return [schema_instance(schema.get("items"), defs, depth + 1) for _ in range(count)]
    scalars: dict[str | None, Any] = {
        "string": "mock",
        "integer": int(schema.get("minimum") or 1),
        "number": schema.get("minimum") or 1,
        "boolean": True,
    }
    return scalars.get(kind)


def _kind(schema: Any) -> str | None:
    """A schema's type in lower case (the first non-null one of a list)."""
    if not isinstance(schema, dict):
        return None
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    return kind.lower() if isinstance(kind, str) else None


def structured_text(schema: Any) -> str:
    """The reply text of a JSON-schema response format."""
    return orjson.dumps(schema_instance(schema)).decode()


def choose(
    tools: list[tuple[str, Any]], forced: str | bool | None, last_user: str, after_tool: bool
) -> ToolCall | None:
    """The call to make given the offered (name, parameter schema) pairs, the forced choice
    (a name, True for any tool, False for none, None for auto), the last user text and
    whether the last message is a tool result."""
    if not tools or forced is False:
        return None
    names = dict(tools)
    prompted = last_user.lstrip().startswith(TOOL_PREFIX) and not after_tool
    if forced is None and not prompted:
        return None
    name, args = _prompt_call(last_user, names) if prompted else (None, None)
    if isinstance(forced, str) and forced in names:
        name = forced
    elif name is None:
        name = tools[-1][0] if after_tool else tools[0][0]
    if args is None:
        instance = schema_instance(names[name])
        args = instance if isinstance(instance, dict) else {}
    return ToolCall(name, args)


def _prompt_call(text: str, names: dict[str, Any]) -> tuple[str | None, Json | None]:
    """The tool name and JSON arguments written after `tool:`, each None when absent."""
    rest = text.lstrip()[len(TOOL_PREFIX) :].strip()
    first, _, tail = rest.partition(" ")
    name = first if first in names else None
    raw = tail.strip() if name else rest
    try:
        args = orjson.loads(raw) if raw.startswith("{") else None
    except orjson.JSONDecodeError:
        args = None
    return name, args if isinstance(args, dict) else None


# ---------------------------------------------------------------- OpenAI chat


def openai_tools(body: Json) -> list[tuple[str, Any]]:
    """(name, parameters) of the function tools of a chat request."""
    out: list[tuple[str, Any]] = []
    for tool in body.get("tools") or ():
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            out.append((fn["name"], fn.get("parameters") or {}))
    return out


def openai_forced(body: Json) -> str | bool | None:
    """The forced choice of a chat request's `tool_choice`."""
    choice = body.get("tool_choice")
    if choice == "none":
        return False
    if choice == "required":
        return True
    if isinstance(choice, dict):
        fn = choice.get("function")
        return fn.get("name") if isinstance(fn, dict) else True
    return None


def openai_tool_result(body: Json) -> str | None:
    """The text of the last message when it is a tool result."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return None
    last = messages[-1]
    if last.get("role") != "tool":
        return None
    content = last.get("content")
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def openai_schema(body: Json) -> Any:
    """The schema of a json_schema `response_format`, or None."""
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema")
        return spec.get("schema", {}) if isinstance(spec, dict) else {}
    return None


def openai_call_message(call: ToolCall, call_id: str) -> Json:
    """The assistant message of a chat completion that calls a tool."""
    function = {"name": call.name, "arguments": call.arguments_json}
    return {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "annotations": [],
        "tool_calls": [{"id": call_id, "type": "function", "function": function}],
    }


def openai_call_deltas(call: ToolCall, call_id: str) -> list[Json]:
    """The chunk deltas of a streamed tool call: the head, then the arguments in halves."""
    text = call.arguments_json
    half = len(text) // 2
    head = {"index": 0, "id": call_id, "type": "function"}
    return [
        {"tool_calls": [{**head, "function": {"name": call.name, "arguments": ""}}]},
        *(
            {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
            for piece in (text[:half], text[half:])
            if piece
        ),
    ]


# ---------------------------------------------------------------- Anthropic


def anthropic_tools(body: Json) -> list[tuple[str, Any]]:
    """(name, input_schema) of the client tools of a Messages request."""
    return [
        (tool["name"], tool.get("input_schema") or {})
        for tool in body.get("tools") or ()
        if isinstance(tool, dict) and isinstance(tool.get("name"), str) and "input_schema" in tool
    ]


def anthropic_forced(body: Json) -> str | bool | None:
    """The forced choice of a Messages request's `tool_choice`."""
    choice = body.get("tool_choice")
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "none":
        return False
    if kind == "any":
        return True
    if kind == "tool":
        name = choice.get("name") if isinstance(choice, dict) else None
        return name if isinstance(name, str) else True
    return None


def anthropic_tool_result(body: Json) -> str | None:
    """The text of the last user message's tool_result blocks, or None."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return None
    content = messages[-1].get("content")
    results = [b for b in content or () if isinstance(b, dict) and b.get("type") == "tool_result"]
    if not isinstance(content, list) or not results:
        return None
    texts: list[str] = []
    for block in results:
        inner = block.get("content")
        if isinstance(inner, str):
            texts.append(inner)
        elif isinstance(inner, list):
            texts.extend(p.get("text", "") for p in inner if isinstance(p, dict))
    return "".join(texts)


def anthropic_schema(body: Json) -> Any:
    """The schema of a json_schema `output_format` (or `output_config.format`), or None."""
    config = body.get("output_config")
    fmt = body.get("output_format") or (config.get("format") if isinstance(config, dict) else None)
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        return fmt.get("schema", {})
    return None


def anthropic_tool_use(call: ToolCall, call_id: str) -> Json:
    """A tool_use content block."""
    return {"type": "tool_use", "id": call_id, "name": call.name, "input": call.arguments}


# ---------------------------------------------------------------- Gemini


def gemini_tools(body: Json) -> list[tuple[str, Any]]:
    """(name, parameters) of the function declarations of a generateContent request."""
    out: list[tuple[str, Any]] = []
    for tool in body.get("tools") or ():
        decls = tool.get("functionDeclarations") if isinstance(tool, dict) else None
        for decl in decls or ():
            if isinstance(decl, dict) and isinstance(decl.get("name"), str):
                schema = decl.get("parametersJsonSchema") or decl.get("parameters") or {}
                out.append((decl["name"], schema))
    return out


def gemini_forced(body: Json) -> str | bool | None:
    """The forced choice of a request's `toolConfig.functionCallingConfig`."""
    config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    mode = str(config.get("mode") or "AUTO").upper()
    if mode == "NONE":
        return False
    if mode in ("ANY", "VALIDATED"):
        allowed = config.get("allowedFunctionNames") or []
        return allowed[0] if len(allowed) == 1 else True
    return None


def gemini_tool_result(body: Json) -> str | None:
    """The JSON of the last content's functionResponse parts, or None."""
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents or not isinstance(contents[-1], dict):
        return None
    responses = [
        p["functionResponse"].get("response")
        for p in contents[-1].get("parts") or ()
        if isinstance(p, dict) and isinstance(p.get("functionResponse"), dict)
    ]
    if not responses:
        return None
    return "".join(orjson.dumps(r).decode() for r in responses)


def gemini_schema(body: Json) -> Any:
    """The response schema of a JSON generationConfig, or None."""
    config = body.get("generationConfig")
    if not isinstance(config, dict):
        return None
    for name in ("responseJsonSchema", "response_json_schema", "responseSchema"):
        if isinstance(config.get(name), dict):
            return config[name]
    return None
