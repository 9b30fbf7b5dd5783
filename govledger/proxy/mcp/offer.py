"""MCP tools offered on a request, written as functions in the surface's own format."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]
OFFER_SURFACES = frozenset({"openai_chat", "openai_responses", "anthropic_messages", "gemini"})


@dataclass(frozen=True)
class OfferedTool:
    """A discovered tool under its function name `client-tool`."""

    function: str
    description: str
    schema: Json


def _existing(surface: str, tools: list[Any]) -> set[str]:
    names: set[str] = set()
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        if surface == "openai_chat":
            names.add(str((tool.get("function") or {}).get("name")))
        elif surface == "gemini":
            declarations = tool.get("functionDeclarations", tool.get("function_declarations"))
            names.update(str(d.get("name")) for d in declarations or ())
        else:
            names.add(str(tool.get("name")))
    return names


def _written(surface: str, tool: OfferedTool) -> Json:
    if surface == "openai_chat":
        function = {
            "name": tool.function,
            "description": tool.description,
            "parameters": tool.schema,
        }
        return {"type": "function", "function": function}
    if surface == "openai_responses":
        return {
            "type": "function",
            "name": tool.function,
            "description": tool.description,
            "parameters": tool.schema,
        }
    if surface == "anthropic_messages":
        return {"name": tool.function, "description": tool.description, "input_schema": tool.schema}
    return {
        "name": tool.function,
        "description": tool.description,
        "parametersJsonSchema": tool.schema,
    }


def with_tools(surface: str, body: Json, tools: list[OfferedTool]) -> Json:
    """The body with the tools added (a client's own tool of the same name wins)."""
    if surface not in OFFER_SURFACES or not tools:
        return body
    present = list(body.get("tools") or [])
    taken = _existing(surface, present)
    added = [_written(surface, t) for t in tools if t.function not in taken]
    if not added:
        return body
    if surface == "gemini":
        return {**body, "tools": [*present, {"functionDeclarations": added}]}
    return {**body, "tools": [*present, *added]}
