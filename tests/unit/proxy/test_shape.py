"""The vendors' body shapes: any value of the wrong kind at a known field is a ShapeError
naming its JSON path, never another exception; a body that passes reaches the estimate and
every translation without anything but their own refusals."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govledger.proxy.enforcement.estimate import input_token_bound, output_token_bound
from govledger.proxy.surfaces.shape import (
    MAX_CHOICES,
    MAX_OUTPUT_TOKENS,
    SHAPES,
    Rule,
    ShapeError,
    check,
    check_body,
    check_model,
    kind_of,
)
from govledger.proxy.translate import UntranslatableError
from govledger.proxy.translate.pipeline import translate_request

FIXED = settings(
    max_examples=400, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
)
PER_FIELD = settings(FIXED, max_examples=40)  # ~90 fields: 40 values each
BASES: dict[str, dict[str, Any]] = {
    "openai_chat": {"model": "m1", "messages": [{"role": "user", "content": "hi"}]},
    "openai_responses": {"model": "m1", "input": [{"role": "user", "content": "hi"}]},
    "openai_embeddings": {"model": "e1", "input": ["hi"]},
    "anthropic_messages": {
        "model": "m1",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_tokens": 5,
    },
    "gemini": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
}
MESSAGES = {
    "openai_chat": "messages",
    "openai_responses": "input",
    "anthropic_messages": "messages",
    "gemini": "contents",
}
PART_KEYS = ["type", "text", "source", "input", "id", "name", "content", "image_url"]
PART_KEYS += ["inlineData", "functionCall", "functionResponse", "tool_use_id"]
KEYS = ["type", "text", "role", "content", "name", "parts", "input", "id", "function", "data"]
scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False)
json_values = st.recursive(
    scalars | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner),
    max_leaves=6,
)


def accepts(rule: Rule, value: object) -> bool:
    """Whether a value's kind is one the rule takes at the top."""
    kind = kind_of(value)
    return kind in rule.kinds or (kind == "integer" and "number" in rule.kinds)


def known_fields() -> list[tuple[str, str]]:
    return [(surface, name) for surface, fields in SHAPES.items() for name in sorted(fields)]


@pytest.mark.parametrize(("surface", "field"), known_fields())
@PER_FIELD
@given(value=json_values)
def test_a_value_of_the_wrong_kind_at_a_known_field_names_that_field(
    surface: str, field: str, value: object
) -> None:
    rule = SHAPES[surface][field]
    body = {**BASES[surface], field: value}
    if accepts(rule, value):
        try:
            check_body(body, SHAPES[surface])
        except ShapeError as error:  # inside the value: the path starts at the field
            assert error.path.startswith(field) and error.field == field
        return
    with pytest.raises(ShapeError) as caught:
        check_body(body, SHAPES[surface])
    assert caught.value.path == field
    assert f"got {kind_of(value)}" in str(caught.value)


@pytest.mark.parametrize("surface", sorted(MESSAGES))
@PER_FIELD
@given(item=scalars | st.lists(scalars, max_size=2) | st.text(max_size=3))
def test_a_message_that_is_not_an_object_names_its_index(surface: str, item: object) -> None:
    key = MESSAGES[surface]
    body = {**BASES[surface], key: [*BASES[surface][key], item]}
    if surface == "openai_responses" and isinstance(item, str):
        return  # an input list of strings is not an item list, but a string input is fine
    with pytest.raises(ShapeError) as caught:
        check_body(body, SHAPES[surface])
    assert caught.value.path == f"{key}[1]"


@pytest.mark.parametrize(
    ("surface", "body", "path"),
    [
        ("openai_chat", {"max_tokens": 2**63}, "max_tokens"),
        ("openai_chat", {"max_completion_tokens": MAX_OUTPUT_TOKENS + 1}, "max_completion_tokens"),
        ("openai_chat", {"n": 2**63}, "n"),
        ("openai_chat", {"n": 0}, "n"),
        ("openai_chat", {"n": MAX_CHOICES + 1}, "n"),
        ("openai_chat", {"max_tokens": -1}, "max_tokens"),
        ("openai_chat", {"stream": "yes"}, "stream"),
        (
            "openai_chat",
            {"stream_options": {"include_usage": "yes"}},
            "stream_options.include_usage",
        ),
        ("openai_responses", {"max_output_tokens": 10**30}, "max_output_tokens"),
        ("anthropic_messages", {"max_tokens": 0}, "max_tokens"),
        ("anthropic_messages", {"max_tokens": 2**64}, "max_tokens"),
        (
            "anthropic_messages",
            {"thinking": {"type": "enabled", "budget_tokens": 2**63}},
            "thinking.budget_tokens",
        ),
        ("anthropic_messages", {"tool_choice": "auto"}, "tool_choice"),
        ("anthropic_messages", {"tool_choice": {}}, "tool_choice.type"),
        ("anthropic_messages", {"stop_sequences": "END"}, "stop_sequences"),
        ("anthropic_messages", {"stop_sequences": ["END", 7]}, "stop_sequences[1]"),
        ("anthropic_messages", {"messages": [{"role": "user"}]}, "messages[0].content"),
        (
            "anthropic_messages",
            {"messages": [{"role": "user", "content": [None]}]},
            "messages[0].content[0]",
        ),
        (
            "gemini",
            {"generationConfig": {"maxOutputTokens": 2**63}},
            "generationConfig.maxOutputTokens",
        ),
        (
            "gemini",
            {"generation_config": {"candidate_count": 1000}},
            "generation_config.candidate_count",
        ),
        ("gemini", {"contents": [{"parts": "hi"}]}, "contents[0].parts"),
        ("gemini", {"contents": [{"role": "user"}]}, "contents[0].parts"),
        ("gemini", {"systemInstruction": "be brief"}, "systemInstruction"),
        ("gemini", {"systemInstruction": {"parts": [7]}}, "systemInstruction.parts[0]"),
    ],
)
def test_bounds_and_nested_kinds_name_the_path(
    surface: str, body: dict[str, Any], path: str
) -> None:
    with pytest.raises(ShapeError) as caught:
        check_body({**BASES[surface], **body}, SHAPES[surface])
    assert caught.value.path == path
    assert len(str(caught.value)) < 200  # a huge number is not echoed whole


@pytest.mark.parametrize(
    "name",
    [
        "gpt-4o",
        "claude-3-5-sonnet@20240620",
        "ft:gpt-4o-mini:org::abc123",
        "openai/gpt-4o",
        "gemini-2.0-flash",
        "meta-llama/Llama-3.1-8B",
        "a" * 256,
    ],
)
def test_ordinary_model_names_pass(name: str) -> None:
    check_model(name)


@pytest.mark.parametrize(
    "name",
    [
        "../../x",
        "../admin",
        "gemini?fakeParam=1",
        "a#b",
        "a%2Fb",
        "a b",
        "/abs",
        "x/../y",
        "a..b",
        "-x",
        "x/",
        "a" * 257,
        "é",
        "a\nb",
    ],
)
def test_unsafe_model_names_are_refused(name: str) -> None:
    with pytest.raises(ShapeError) as caught:
        check_model(name)
    assert caught.value.path == "model"
    assert name not in str(caught.value) or len(name) < 10


@FIXED
@given(name=st.text(min_size=1, max_size=40))
def test_a_model_name_with_a_path_or_query_character_never_passes(name: str) -> None:
    try:
        check_model(name, slash=False)
    except ShapeError:
        return
    assert not set(name) & set("/?#%\\ \n") and ".." not in name


def test_a_gemini_name_may_not_hold_a_slash() -> None:
    with pytest.raises(ShapeError):
        check_model("openai/gpt-4o", slash=False)


@FIXED
@given(surface=st.sampled_from(sorted(MESSAGES)), data=st.data())
def test_a_body_that_passes_reaches_estimate_and_translation_without_a_defect(
    surface: str, data: st.DataObject
) -> None:
    body = copy.deepcopy(BASES[surface])
    key = MESSAGES[surface]
    for _ in range(data.draw(st.integers(1, 3))):
        value = data.draw(json_values)
        where = data.draw(st.sampled_from(["top", "message", "part"]))
        message = body[key][0] if isinstance(body.get(key), list) and body[key] else None
        if where == "top" or not isinstance(message, dict):
            body[data.draw(st.sampled_from(sorted(SHAPES[surface])))] = value
        elif where == "message":
            message[data.draw(st.sampled_from(["role", "content", "parts", "tool_calls"]))] = value
        else:
            parts = message.get("parts" if surface == "gemini" else "content")
            if isinstance(parts, list) and parts and isinstance(parts[0], dict):
                parts[0][data.draw(st.sampled_from(PART_KEYS))] = value
    try:
        check_body(body, SHAPES[surface])
        input_token_bound(body, surface)
        output_token_bound(body, surface, None)
    except ValueError:  # ShapeError and the estimate's own refusals are 400s
        return
    for provider_type in ("openai", "anthropic", "gemini"):
        with contextlib.suppress(UntranslatableError):
            translate_request(surface, provider_type, body, "m1", False, 100)


def test_check_walks_only_known_fields() -> None:
    rule = Rule(frozenset({"object"}), fields={"a": Rule(frozenset({"string"}))})
    check({"a": "x", "b": [None, 2**70]}, rule, "body")
    with pytest.raises(ShapeError, match="`body.a` must be a string, got integer"):
        check({"a": 1}, rule, "body")
