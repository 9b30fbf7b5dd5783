"""The vendors' request shapes as data, and one pure check of a body against them.

Every known field of a surface's body is declared with the JSON kinds it may take, its
items or fields, and for numbers and names the bounds; unknown fields pass through (the
vendors add them faster than a gateway can follow) but reach no estimate or event. A body
that breaks a rule gets `ShapeError` naming the JSON path (`messages[0].content`), which a
surface answers as 400. The ceilings are documented in docs/surfaces.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

# Output caps (max_tokens and kin): within every model's limit, and well inside 64 bits.
MAX_OUTPUT_TOKENS: Final = 1_000_000
MAX_CHOICES: Final = 128  # n, candidateCount
MAX_MODEL_LENGTH: Final = 256
# Segments of letters, digits and `._:@-`, each starting with a letter or digit, joined by `/`.
MODEL_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]*(/[A-Za-z0-9][A-Za-z0-9._:@-]*)*")


class ShapeError(ValueError):
    """A body that breaks its surface's shape: the JSON path and what is wrong there."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"`{path}` {message}")
        self.path = path
        self.field = re.split(r"[.\[]", path, maxsplit=1)[0]


@dataclass(frozen=True)
class Rule:
    """What one JSON value may be: its kinds, and for arrays, objects and numbers, more."""

    kinds: frozenset[str]
    items: Rule | None = None  # each item of an array
    fields: Mapping[str, Rule] = field(default_factory=dict)  # known fields of an object
    required: frozenset[str] = frozenset()
    values: Rule | None = None  # every value of an object used as a map
    low: int | None = None  # integers: the least value
    high: int | None = None  # integers: the greatest value


def kind_of(value: object) -> str:
    """The JSON kind of a parsed value (`null`, `boolean`, `integer`, `number`, ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def _described(kinds: frozenset[str]) -> str:
    names = sorted("an " + k if k[0] in "aeiou" else "a " + k for k in kinds if k != "null")
    return " or ".join(names) if names else "null"


def check(value: object, rule: Rule, path: str) -> None:
    """ShapeError at the first place `value` breaks `rule` (depth first, in body order)."""
    kind = kind_of(value)
    accepted = kind in rule.kinds or (kind == "integer" and "number" in rule.kinds)
    if not accepted:
        raise ShapeError(path, f"must be {_described(rule.kinds)}, got {kind}")
    if kind == "integer" and isinstance(value, int):
        if rule.low is not None and value < rule.low:
            raise ShapeError(path, f"must be at least {rule.low}, got {value}")
        if rule.high is not None and value > rule.high:
            raise ShapeError(path, f"must be at most {rule.high:,}, got {_short(value)}")
    elif kind == "array" and isinstance(value, list) and rule.items is not None:
        for i, item in enumerate(value):
            check(item, rule.items, f"{path}[{i}]")
    elif kind == "object" and isinstance(value, dict):
        for name in sorted(rule.required):
            if value.get(name) is None:
                raise ShapeError(f"{path}.{name}", "is required")
        for name, item in value.items():
            known = rule.fields.get(name, rule.values)
            if known is not None:
                check(item, known, f"{path}.{name}")


def check_body(body: Mapping[str, Any], fields: Mapping[str, Rule]) -> None:
    """ShapeError for the first known top-level field of `body` that breaks its rule."""
    for name, item in body.items():
        rule = fields.get(name)
        if rule is not None:
            check(item, rule, name)


def check_model(model: str, path: str = "model", slash: bool = True) -> None:
    """ShapeError unless `model` is a safe model name (`slash=False`: no `/` at all)."""
    if len(model) > MAX_MODEL_LENGTH:
        raise ShapeError(path, f"must be at most {MAX_MODEL_LENGTH} characters, got {len(model)}")
    if not MODEL_NAME.fullmatch(model) or ".." in model or (not slash and "/" in model):
        allowed = "letters, digits and `._:@-`" + (", segments joined by `/`" if slash else "")
        raise ShapeError(path, f"is not a model name ({allowed}; no `..`)")


def _short(value: int) -> str:
    text = str(value)
    return text if len(text) <= 24 else f"{text[:12]}...({len(text)} digits)"


# --- the building blocks -------------------------------------------------------------------


def kinds(*names: str, **more: Any) -> Rule:
    """A rule over the named JSON kinds; `null` is always accepted (as the field's absence)."""
    return Rule(frozenset((*names, "null")), **more)


def strict(*names: str, **more: Any) -> Rule:
    """A rule over the named JSON kinds, `null` refused (array items, required parts)."""
    return Rule(frozenset(names), **more)


STRING = kinds("string")
BOOLEAN = kinds("boolean")
NUMBER = kinds("number")
OBJECT = kinds("object")
ANY_OBJECTS = kinds("array", items=strict("object"))
STRINGS = kinds("array", items=strict("string"))
STRING_MAP = kinds("object", values=kinds("string", "number", "boolean"))
TOKENS = kinds("integer", low=0, high=MAX_OUTPUT_TOKENS)
CHOICES = kinds("integer", low=1, high=MAX_CHOICES)


def obj(required: tuple[str, ...] = (), nullable: bool = True, **fields: Rule) -> Rule:
    """An object with known fields (`required` ones must be present and not null)."""
    return fields_of(fields, required, nullable)


def fields_of(
    fields: Mapping[str, Rule], required: tuple[str, ...] = (), nullable: bool = True
) -> Rule:
    """`obj` with its fields given as a mapping."""
    return Rule(
        frozenset(("object", "null") if nullable else ("object",)),
        fields=dict(fields),
        required=frozenset(required),
    )


def array(item: Rule, *also: str) -> Rule:
    """An array of `item`s (or one of the `also` kinds)."""
    return kinds("array", *also, items=item)


def camel_and_snake(fields: Mapping[str, Rule]) -> dict[str, Rule]:
    """Gemini's REST API takes both `maxOutputTokens` and `max_output_tokens`."""
    out = dict(fields)
    for name, rule in fields.items():
        out[re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()] = rule
    return out


# --- OpenAI --------------------------------------------------------------------------------

_OPENAI_PART = obj(
    ("type",),
    nullable=False,
    type=STRING,
    text=STRING,
    image_url=kinds("object", "string"),
    input_audio=OBJECT,
    file=OBJECT,
)
_TOOL_CALL = obj(
    nullable=False,
    id=STRING,
    type=STRING,
    function=obj(name=STRING, arguments=kinds("string", "object")),
)
_OPENAI_MESSAGE = obj(
    ("role",),
    nullable=False,
    role=STRING,
    content=array(_OPENAI_PART, "string"),
    name=STRING,
    tool_calls=array(_TOOL_CALL),
    tool_call_id=STRING,
    refusal=STRING,
)
_OPENAI_TOOL = obj(
    nullable=False,
    type=STRING,
    function=obj(name=STRING, description=STRING, parameters=OBJECT, strict=BOOLEAN),
)
_OPENAI_COMMON = {
    "model": STRING,
    "stream": BOOLEAN,
    "temperature": NUMBER,
    "top_p": NUMBER,
    "user": STRING,
    "metadata": STRING_MAP,
    "store": BOOLEAN,
    "parallel_tool_calls": BOOLEAN,
    "tool_choice": kinds("string", "object"),
    "service_tier": STRING,
}
OPENAI_CHAT: Final = {
    **_OPENAI_COMMON,
    "messages": array(_OPENAI_MESSAGE),
    "max_tokens": TOKENS,
    "max_completion_tokens": TOKENS,
    "n": CHOICES,
    "stop": array(strict("string"), "string"),
    "stream_options": obj(include_usage=BOOLEAN),
    "tools": array(_OPENAI_TOOL),
    "functions": ANY_OBJECTS,
    "function_call": kinds("string", "object"),
    "response_format": obj(type=STRING, json_schema=OBJECT),
    "presence_penalty": NUMBER,
    "frequency_penalty": NUMBER,
    "logit_bias": STRING_MAP,
    "logprobs": BOOLEAN,
    "top_logprobs": kinds("integer", low=0, high=20),
    "seed": kinds("integer"),
    "modalities": STRINGS,
    "audio": OBJECT,
    "prediction": OBJECT,
    "reasoning_effort": STRING,
    "web_search_options": OBJECT,
}
_RESPONSES_ITEM = obj(
    nullable=False,
    type=STRING,
    role=STRING,
    content=array(strict("object"), "string"),
)
OPENAI_RESPONSES: Final = {
    **_OPENAI_COMMON,
    "input": array(_RESPONSES_ITEM, "string"),
    "instructions": STRING,
    "max_output_tokens": TOKENS,
    "tools": ANY_OBJECTS,
    "text": OBJECT,
    "reasoning": OBJECT,
    "previous_response_id": STRING,
    "include": STRINGS,
    "truncation": STRING,
    "conversation": kinds("string", "object"),
    "prompt": OBJECT,
}
OPENAI_EMBEDDINGS: Final = {
    "model": STRING,
    "input": array(strict("string", "integer", "array", items=strict("integer")), "string"),
    "dimensions": kinds("integer", low=1, high=1_000_000),
    "encoding_format": STRING,
    "user": STRING,
}

# --- Anthropic -----------------------------------------------------------------------------

_ANTHROPIC_BLOCK = obj(
    ("type",),
    nullable=False,
    type=STRING,
    text=STRING,
    source=OBJECT,
    id=STRING,
    name=STRING,
    input=OBJECT,
    tool_use_id=STRING,
    content=array(strict("object"), "string"),
    is_error=BOOLEAN,
    cache_control=OBJECT,
    thinking=STRING,
    signature=STRING,
    data=STRING,
)
ANTHROPIC_MESSAGES: Final = {
    "model": STRING,
    "messages": array(
        obj(
            ("role", "content"),
            nullable=False,
            role=STRING,
            content=strict("string", "array", items=_ANTHROPIC_BLOCK),
        )
    ),
    "max_tokens": kinds("integer", low=1, high=MAX_OUTPUT_TOKENS),
    "system": array(_ANTHROPIC_BLOCK, "string"),
    "stream": BOOLEAN,
    "stop_sequences": STRINGS,
    "temperature": NUMBER,
    "top_p": NUMBER,
    "top_k": kinds("integer", low=0),
    "metadata": obj(user_id=STRING),
    "tools": array(
        obj(nullable=False, name=STRING, description=STRING, input_schema=OBJECT, type=STRING)
    ),
    "tool_choice": obj(("type",), type=STRING, name=STRING, disable_parallel_tool_use=BOOLEAN),
    "thinking": obj(("type",), type=STRING, budget_tokens=TOKENS),
    "service_tier": STRING,
    "mcp_servers": ANY_OBJECTS,
    "container": STRING,
}

# --- Gemini --------------------------------------------------------------------------------

_BLOB = fields_of(camel_and_snake({"mimeType": STRING, "data": STRING}))
_GEMINI_PART = fields_of(
    nullable=False,
    fields=camel_and_snake(
        {
            "text": STRING,
            "inlineData": _BLOB,
            "fileData": OBJECT,
            "functionCall": obj(name=STRING, args=OBJECT, id=STRING),
            "functionResponse": obj(name=STRING, response=OBJECT, id=STRING),
            "executableCode": OBJECT,
            "codeExecutionResult": OBJECT,
            "thought": BOOLEAN,
            "thoughtSignature": STRING,
        }
    ),
)
_CONTENT = obj(("parts",), nullable=False, role=STRING, parts=array(_GEMINI_PART))
_GENERATION_CONFIG = fields_of(
    camel_and_snake(
        {
            "maxOutputTokens": TOKENS,
            "candidateCount": CHOICES,
            "stopSequences": STRINGS,
            "temperature": NUMBER,
            "topP": NUMBER,
            "topK": NUMBER,
            "seed": kinds("integer"),
            "presencePenalty": NUMBER,
            "frequencyPenalty": NUMBER,
            "responseMimeType": STRING,
            "responseSchema": OBJECT,
            "responseModalities": STRINGS,
            "thinkingConfig": fields_of(
                camel_and_snake({"thinkingBudget": kinds("integer"), "includeThoughts": BOOLEAN})
            ),
        }
    )
)
GEMINI: Final = camel_and_snake(
    {
        "contents": array(_CONTENT),
        "systemInstruction": obj(("parts",), role=STRING, parts=array(_GEMINI_PART)),
        "generationConfig": _GENERATION_CONFIG,
        "tools": array(
            fields_of(camel_and_snake({"functionDeclarations": ANY_OBJECTS}), nullable=False)
        ),
        "toolConfig": OBJECT,
        "safetySettings": ANY_OBJECTS,
        "cachedContent": STRING,
        "labels": STRING_MAP,
    }
)

SHAPES: Final[Mapping[str, Mapping[str, Rule]]] = {
    "openai_chat": OPENAI_CHAT,
    "openai_responses": OPENAI_RESPONSES,
    "openai_embeddings": OPENAI_EMBEDDINGS,
    "anthropic_messages": ANTHROPIC_MESSAGES,
    "gemini": GEMINI,
}
