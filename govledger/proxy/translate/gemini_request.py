"""Requests between OpenAI chat completions (the hub) and Gemini generateContent, both ways.

Gemini's REST API takes camelCase and snake_case field names; both are read here, and
camelCase is written. Tool parameters go out as `parametersJsonSchema` (full JSON Schema).
"""

from __future__ import annotations

from typing import Any

import orjson

from govledger.proxy.translate import Json, UntranslatableError, refuse_unknown, text_of

TO_GEMINI = "gemini"
TO_HUB = "openai"

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
        "n",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "response_format",
    }
)
_CHAT_MESSAGE_FIELDS = frozenset({"role", "content", "tool_calls", "tool_call_id", "refusal"})
# chat field -> generationConfig field
_GENERATION = {
    "temperature": "temperature",
    "top_p": "topP",
    "n": "candidateCount",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}
_GEMINI_FIELDS = frozenset(
    {"contents", "systemInstruction", "generationConfig", "tools", "toolConfig", "model"}
)
_SCHEMAS = ("responseJsonSchema", "responseSchema")
_CONFIG_FIELDS = frozenset(
    {*_GENERATION.values(), "maxOutputTokens", "stopSequences", "responseMimeType", *_SCHEMAS}
)
_CHOICE_MODES = {"AUTO": "auto", "NONE": "none", "ANY": "required"}


def camel(name: str) -> str:
    """`system_instruction` -> `systemInstruction` (camelCase names pass unchanged)."""
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def camel_keys(obj: Any) -> Json:
    """A mapping with its own keys in camelCase (values untouched); {} for a non-mapping."""
    return {camel(k): v for k, v in obj.items()} if isinstance(obj, dict) else {}


# --- OpenAI chat -> Gemini ---------------------------------------------------------------


def chat_to_gemini(body: Json) -> Json:
    """A generateContent request for a chat completions request (the model goes in the URL)."""
    refuse_unknown(body, _CHAT_FIELDS, "", TO_GEMINI)
    if body.get("parallel_tool_calls") is False:
        raise UntranslatableError("`parallel_tool_calls` false", TO_GEMINI)
    system, contents = _chat_contents(body.get("messages"))
    out: Json = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": [{"text": text} for text in system]}
    config: Json = {gemini: body[chat] for chat, gemini in _GENERATION.items() if chat in body}
    config = {k: v for k, v in config.items() if v is not None}
    cap = body.get("max_completion_tokens") or body.get("max_tokens")
    if cap is not None:
        config["maxOutputTokens"] = cap
    stop = body.get("stop")
    if stop is not None:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    kind = (body.get("response_format") or {"type": "text"}).get("type")
    if kind == "json_object":
        config["responseMimeType"] = "application/json"
    elif kind == "json_schema":
        spec = body["response_format"].get("json_schema") or {}
        config["responseMimeType"] = "application/json"
        config["responseJsonSchema"] = spec.get("schema") or {"type": "object"}
    elif kind != "text":
        raise UntranslatableError(f"`response_format` ({kind})", TO_GEMINI)
    if config:
        out["generationConfig"] = config
    if body.get("tools"):
        out["tools"] = [{"functionDeclarations": _declarations(body["tools"])}]
    choice = _choice_to_gemini(body.get("tool_choice"))
    if choice is not None:
        out["toolConfig"] = {"functionCallingConfig": choice}
    return out


def _chat_contents(messages: Any) -> tuple[list[str], list[Json]]:
    if not isinstance(messages, list):
        raise UntranslatableError("`messages` (not a list)", TO_GEMINI)
    system: list[str] = []
    contents: list[Json] = []
    names: dict[str, str] = {}
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        refuse_unknown(message, _CHAT_MESSAGE_FIELDS, where, TO_GEMINI)
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            system.append(text_of(content, f"{where}.content", TO_GEMINI))
        elif role == "user":
            _append(contents, "user", _user_parts(content, f"{where}.content"))
        elif role == "assistant":
            _append(contents, "model", _model_parts(message, names))
        elif role == "tool":
            name = names.get(str(message.get("tool_call_id")))
            if name is None:
                raise UntranslatableError(f"{where}.tool_call_id (no such call)", TO_GEMINI)
            result = text_of(content, f"{where}.content", TO_GEMINI)
            call = {"name": name, "response": {"result": result}}
            _append(contents, "user", [{"functionResponse": call}])
        else:
            raise UntranslatableError(f"{where} (role {role!r})", TO_GEMINI)
    return system, contents


def _append(contents: list[Json], role: str, parts: list[Json]) -> None:
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _user_parts(content: Any, where: str) -> list[Json]:
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        raise UntranslatableError(f"{where} (not text)", TO_GEMINI)
    parts = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"text": part.get("text", "")})
        elif kind == "image_url":
            url = str((part.get("image_url") or {}).get("url", ""))
            if not url.startswith("data:"):
                raise UntranslatableError(f"{where}[{index}] (remote image URL)", TO_GEMINI)
            header, _, data = url.partition(",")
            parts.append({"inlineData": {"mimeType": header[5:].split(";")[0], "data": data}})
        else:
            raise UntranslatableError(f"{where}[{index}] ({kind} part)", TO_GEMINI)
    return parts


def _model_parts(message: Json, names: dict[str, str]) -> list[Json]:
    parts: list[Json] = []
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    if content:
        parts.append({"text": content})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        names[str(call.get("id"))] = str(function.get("name"))
        try:
            args = orjson.loads(function.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            args = {}
        parts.append({"functionCall": {"name": function.get("name"), "args": args}})
    return parts or [{"text": ""}]


def _declarations(tools: list[Json]) -> list[Json]:
    out = []
    for index, tool in enumerate(tools):
        function = tool.get("function") or {}
        if tool.get("type") != "function":
            raise UntranslatableError(f"tools[{index}] ({tool.get('type')})", TO_GEMINI)
        if function.get("strict"):
            raise UntranslatableError(f"tools[{index}].function.strict", TO_GEMINI)
        declaration: Json = {"name": function.get("name")}
        if function.get("description"):
            declaration["description"] = function["description"]
        if function.get("parameters"):
            declaration["parametersJsonSchema"] = function["parameters"]
        out.append(declaration)
    return out


def _choice_to_gemini(choice: Any) -> Json | None:
    if choice is None:
        return None
    modes = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
    if isinstance(choice, str) and choice in modes:
        return {"mode": modes[choice]}
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"mode": "ANY", "allowedFunctionNames": [(choice.get("function") or {})["name"]]}
    raise UntranslatableError("`tool_choice`", TO_GEMINI)


# --- Gemini -> OpenAI chat ---------------------------------------------------------------


def gemini_to_chat(body: Json, model: str) -> Json:
    """A chat completions request for a generateContent request on `model`."""
    request = camel_keys(body)
    if request.get("safetySettings") == []:  # no setting at all: nothing to carry
        del request["safetySettings"]
    refuse_unknown(request, _GEMINI_FIELDS, "", TO_HUB)
    messages: list[Json] = []
    system = camel_keys(request.get("systemInstruction"))
    if system:
        texts = [_text_part(camel_keys(p), "systemInstruction.parts") for p in system["parts"]]
        messages.append({"role": "system", "content": "".join(texts)})
    pending: list[tuple[str, str]] = []  # (name, call id) of calls not answered yet
    for index, content in enumerate(request.get("contents") or ()):
        messages.extend(_to_messages(camel_keys(content), f"contents[{index}]", pending))
    out: Json = {"model": model, "messages": messages}
    out.update(_config_to_chat(camel_keys(request.get("generationConfig"))))
    if request.get("tools"):
        out["tools"] = _tools_to_chat(request["tools"])
    calling = camel_keys(camel_keys(request.get("toolConfig")).get("functionCallingConfig"))
    if calling:
        out["tool_choice"] = _choice_to_chat(calling)
    return out


def _text_part(part: Json, where: str) -> str:
    refuse_unknown(part, frozenset({"text", "thoughtSignature"}), where, TO_HUB)
    return str(part.get("text", ""))


def _to_messages(content: Json, where: str, pending: list[tuple[str, str]]) -> list[Json]:
    role = content.get("role", "user")
    texts: list[Json] = []
    calls: list[Json] = []
    results: list[Json] = []
    for index, raw in enumerate(content.get("parts") or ()):
        part = camel_keys(raw)
        at = f"{where}.parts[{index}]"
        if part.get("thought"):
            raise UntranslatableError(f"{at} (thought part)", TO_HUB)
        if "functionCall" in part:
            call = camel_keys(part["functionCall"])
            call_id = str(call.get("id") or f"call_{len(pending)}_{call.get('name')}")
            pending.append((str(call.get("name")), call_id))
            arguments = orjson.dumps(call.get("args") or {}).decode()
            function = {"name": call.get("name"), "arguments": arguments}
            calls.append({"id": call_id, "type": "function", "function": function})
        elif "functionResponse" in part:
            results.append(_function_result(camel_keys(part["functionResponse"]), pending))
        elif "inlineData" in part:
            data = camel_keys(part["inlineData"])
            url = f"data:{data.get('mimeType')};base64,{data.get('data')}"
            if not str(data.get("mimeType", "")).startswith("image/"):
                raise UntranslatableError(f"{at}.inlineData ({data.get('mimeType')})", TO_HUB)
            texts.append({"type": "image_url", "image_url": {"url": url}})
        else:
            texts.append({"type": "text", "text": _text_part(part, at)})
    if role == "model":
        text = "".join(str(t.get("text", "")) for t in texts) if texts else None
        message: Json = {"role": "assistant", "content": text}
        if calls:
            message["tool_calls"] = calls
        return [message]
    if not texts:
        return results
    if all(t["type"] == "text" for t in texts):
        return [*results, {"role": "user", "content": "".join(t["text"] for t in texts)}]
    return [*results, {"role": "user", "content": texts}]


def _function_result(response: Json, pending: list[tuple[str, str]]) -> Json:
    name = str(response.get("name"))
    call_id = response.get("id")
    if call_id is None:
        found = next((item for item in pending if item[0] == name), (name, f"call_{name}"))
        call_id = found[1]
    if (name, call_id) in pending:
        pending.remove((name, call_id))
    value = response.get("response")
    if isinstance(value, dict) and set(value) == {"result"} and isinstance(value["result"], str):
        text = value["result"]
    else:
        text = orjson.dumps(value).decode()
    return {"role": "tool", "tool_call_id": call_id, "content": text}


def _config_to_chat(config: Json) -> Json:
    refuse_unknown(config, _CONFIG_FIELDS, "generationConfig", TO_HUB)
    out: Json = {chat: config[g] for chat, g in _GENERATION.items() if config.get(g) is not None}
    if config.get("maxOutputTokens") is not None:
        out["max_completion_tokens"] = config["maxOutputTokens"]
    if config.get("stopSequences"):
        out["stop"] = list(config["stopSequences"])
    mime = config.get("responseMimeType")
    schema = config.get("responseJsonSchema") or json_schema(config.get("responseSchema"))
    if mime == "application/json" and schema:
        spec = {"name": "response", "schema": schema}
        out["response_format"] = {"type": "json_schema", "json_schema": spec}
    elif mime == "application/json":
        out["response_format"] = {"type": "json_object"}
    elif mime not in (None, "text/plain"):
        raise UntranslatableError(f"generationConfig.responseMimeType ({mime})", TO_HUB)
    return out


def _tools_to_chat(tools: list[Any]) -> list[Json]:
    out = []
    for index, raw in enumerate(tools):
        tool = camel_keys(raw)
        refuse_unknown(tool, frozenset({"functionDeclarations"}), f"tools[{index}]", TO_HUB)
        for declaration in tool.get("functionDeclarations") or ():
            item = camel_keys(declaration)
            schema = item.get("parametersJsonSchema") or json_schema(item.get("parameters"))
            function: Json = {
                "name": item.get("name"),
                "parameters": schema or {"type": "object", "properties": {}},
            }
            if item.get("description"):
                function["description"] = item["description"]
            out.append({"type": "function", "function": function})
    return out


def json_schema(schema: Any) -> Any:
    """A Gemini OpenAPI-style schema as JSON Schema: lower-case types, no property ordering."""
    if isinstance(schema, list):
        return [json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: Json = {}
    for key, value in schema.items():
        name = camel(key)
        if name == "propertyOrdering":
            continue
        if name == "type" and isinstance(value, str):
            out[name] = value.lower()
        elif name == "properties" and isinstance(value, dict):
            out[name] = {prop: json_schema(sub) for prop, sub in value.items()}
        else:
            out[name] = json_schema(value)
    return out


def _choice_to_chat(calling: Json) -> Any:
    mode = str(calling.get("mode", "AUTO")).upper()
    names = calling.get("allowedFunctionNames") or []
    if mode == "ANY" and len(names) == 1:
        return {"type": "function", "function": {"name": names[0]}}
    if mode not in _CHOICE_MODES or len(names) > 1:
        raise UntranslatableError("toolConfig.functionCallingConfig", TO_HUB)
    return _CHOICE_MODES[mode]
