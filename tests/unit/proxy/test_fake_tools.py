"""The fake upstream's tool-call and structured-output rules (pure)."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from govledger.proxy.fake_upstream import tools as mt

ADD = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}
TOOLS = [("add", ADD), ("final_result", {"type": "object", "properties": {"x": {}}})]

scalars = st.sampled_from(
    [{"type": "string"}, {"type": "integer", "minimum": 3}, {"type": "number"},
     {"type": "boolean"}, {"type": ["null", "string"]}, {"enum": ["b", "a"]}, {"const": 7}]
)  # fmt: skip


def schemas() -> st.SearchStrategy[Any]:
    """Nested JSON schemas of objects, arrays, unions and scalars."""
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.dictionaries(st.text("abc", min_size=1, max_size=3), inner, max_size=3).map(
                lambda props: {"type": "object", "properties": props, "required": sorted(props)}
            ),
            st.tuples(inner, st.integers(0, 3)).map(
                lambda pair: {"type": "array", "items": pair[0], "minItems": pair[1]}
            ),
            st.lists(inner, min_size=1, max_size=2).map(lambda options: {"anyOf": options}),
        ),
        max_leaves=8,
    )


@given(schemas())
def test_a_schema_instance_is_valid_against_its_schema(schema: dict[str, Any]) -> None:
    jsonschema.validate(mt.schema_instance(schema), schema)


def test_refs_and_gemini_upper_case_types_are_followed() -> None:
    schema = {"$defs": {"City": {"type": "OBJECT", "properties": {"n": {"type": "STRING"}}}},
              "type": "object", "properties": {"city": {"$ref": "#/$defs/City"}}}  # fmt: skip
    assert mt.schema_instance(schema) == {"city": {"n": "mock"}}


@pytest.mark.parametrize(
    ("forced", "last_user", "after_tool", "expected"),
    [
        (None, "hi", False, None),
        (None, "tool: hi", False, mt.ToolCall("add", {"a": 1, "b": 1})),
        (None, 'tool: final_result {"x": 2}', False, mt.ToolCall("final_result", {"x": 2})),
        (None, 'tool: {"a": 5}', False, mt.ToolCall("add", {"a": 5})),
        (None, "tool: hi", True, None),
        (False, "tool: hi", False, None),
        ("final_result", "hi", False, mt.ToolCall("final_result", {"x": None})),
        (True, "hi", False, mt.ToolCall("add", {"a": 1, "b": 1})),
        (True, "hi", True, mt.ToolCall("final_result", {"x": None})),
    ],
    ids=["auto text", "prompted", "prompted by name with args", "prompted args",
         "after a result", "none", "named", "required", "required after a result"],
)  # fmt: skip
def test_which_tool_is_called_with_what(
    forced: str | bool | None, last_user: str, after_tool: bool, expected: mt.ToolCall | None
) -> None:
    assert mt.choose(TOOLS, forced, last_user, after_tool) == expected


def test_no_tool_offered_means_no_call_even_when_forced() -> None:
    assert mt.choose([], True, "tool: x", False) is None


def test_each_vendors_choice_and_result_are_read() -> None:
    assert mt.openai_forced({"tool_choice": {"type": "function", "function": {"name": "f"}}}) == "f"
    assert mt.anthropic_forced({"tool_choice": {"type": "any"}}) is True
    assert mt.gemini_forced({"toolConfig": {"functionCallingConfig": {"mode": "NONE"}}}) is False
    chat = {"messages": [{"role": "tool", "tool_call_id": "c", "content": "5"}]}
    assert mt.openai_tool_result(chat) == "5"
    blocks = [
        {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "5"}]}
    ]
    assert mt.anthropic_tool_result({"messages": [{"role": "user", "content": blocks}]}) == "5"
    parts = [{"functionResponse": {"name": "add", "response": {"output": 5}}}]
    assert mt.gemini_tool_result({"contents": [{"role": "user", "parts": parts}]}) == '{"output":5}'


def test_a_streamed_call_joins_back_to_its_arguments() -> None:
    call = mt.ToolCall("add", {"a": 2, "b": 3})
    deltas = mt.openai_call_deltas(call, "call_1")
    joined = "".join(d["tool_calls"][0]["function"]["arguments"] for d in deltas)
    assert joined == call.arguments_json == '{"a":2,"b":3}'
    assert call.output_tokens == -(-len(joined) // 4)
