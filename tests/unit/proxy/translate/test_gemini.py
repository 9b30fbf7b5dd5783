"""OpenAI chat <-> Gemini generateContent: requests, responses and streams, both ways."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from govledger.proxy.fake_upstream import replies as mr
from govledger.proxy.translate import UntranslatableError
from govledger.proxy.translate.gemini_request import chat_to_gemini, gemini_to_chat, json_schema
from govledger.proxy.translate.gemini_response import (
    ChatToGemini,
    GeminiToChat,
    completion_to_gemini,
    gemini_to_completion,
    usage_to_chat,
    usage_to_gemini,
)

Json = dict[str, Any]
texts = st.text(min_size=1, max_size=20)


@st.composite
def text_conversations(draw: st.DrawFn) -> list[Json]:
    """System, then alternating user and assistant text turns ending on the user."""
    messages: list[Json] = []
    if draw(st.booleans()):
        messages.append({"role": "system", "content": draw(texts)})
    turns = draw(st.integers(0, 3))
    for _ in range(turns):
        messages += [
            {"role": "user", "content": draw(texts)},
            {"role": "assistant", "content": draw(texts)},
        ]
    messages.append({"role": "user", "content": draw(texts)})
    return messages


@given(text_conversations(), st.integers(1, 1000), st.floats(0, 2))
def test_a_text_conversation_survives_the_trip_to_gemini_and_back(
    messages: list[Json], cap: int, temperature: float
) -> None:
    body = {"model": "m", "messages": messages, "max_tokens": cap, "temperature": temperature}
    there = chat_to_gemini(body)
    assert there["generationConfig"] == {"maxOutputTokens": cap, "temperature": temperature}
    back = gemini_to_chat(there, "gemini-x")
    assert back["messages"] == messages
    assert (back["model"], back["max_completion_tokens"]) == ("gemini-x", cap)


def test_tool_calls_and_results_are_matched_by_name_in_gemini_and_by_id_back() -> None:
    messages = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "a", "type": "function",
             "function": {"name": "weather", "arguments": '{"c": "P"}'}},
            {"id": "b", "type": "function", "function": {"name": "time", "arguments": "{}"}},
        ]},
        {"role": "tool", "tool_call_id": "b", "content": "noon"},
        {"role": "tool", "tool_call_id": "a", "content": "sunny"},
    ]  # fmt: skip
    tools = [{"type": "function", "function": {"name": "weather", "description": "W",
                                               "parameters": {"type": "object"}}}]  # fmt: skip
    choice = {"type": "function", "function": {"name": "weather"}}
    there = chat_to_gemini({"model": "m", "messages": messages, "tools": tools,
                            "tool_choice": choice})  # fmt: skip
    assert there["contents"][1] == {"role": "model", "parts": [
        {"functionCall": {"name": "weather", "args": {"c": "P"}}},
        {"functionCall": {"name": "time", "args": {}}},
    ]}  # fmt: skip
    assert there["contents"][2]["parts"] == [
        {"functionResponse": {"name": "time", "response": {"result": "noon"}}},
        {"functionResponse": {"name": "weather", "response": {"result": "sunny"}}},
    ]
    declaration = {
        "name": "weather",
        "description": "W",
        "parametersJsonSchema": {"type": "object"},
    }
    assert there["tools"] == [{"functionDeclarations": [declaration]}]
    assert there["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}
    }
    back = gemini_to_chat(there, "m")["messages"]
    ids = [c["id"] for c in back[1]["tool_calls"]]
    assert [(m["tool_call_id"], m["content"]) for m in back[2:]] == [
        (ids[1], "noon"),
        (ids[0], "sunny"),
    ]


def test_the_sdks_snake_case_and_openapi_schemas_are_read() -> None:
    request = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "system_instruction": {"parts": [{"text": "sys"}]},
        "generation_config": {"max_output_tokens": 9, "stop_sequences": ["x"],
                              "response_mime_type": "application/json"},
        "tools": [{"function_declarations": [{"name": "f", "parameters": {
            "type": "OBJECT", "properties": {"n": {"type": "INTEGER"}},
            "propertyOrdering": ["n"]}}]}],
        "tool_config": {"function_calling_config": {"mode": "NONE"}},
    }  # fmt: skip
    out = gemini_to_chat(request, "g")
    assert out["messages"][0] == {"role": "system", "content": "sys"}
    assert (out["max_completion_tokens"], out["stop"]) == (9, ["x"])
    assert out["response_format"] == {"type": "json_object"}
    assert out["tools"][0]["function"]["parameters"] == {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
    }
    assert out["tool_choice"] == "none"
    assert json_schema({"items": [{"type": "STRING"}]}) == {"items": [{"type": "string"}]}


@pytest.mark.parametrize(
    ("request_part", "named"),
    [
        ({"generationConfig": {"topK": 3}}, "`generationConfig.topK`"),
        ({"generationConfig": {"thinkingConfig": {"thinkingBudget": 5}}},
         "`generationConfig.thinkingConfig`"),
        ({"safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]},
         "`safetySettings`"),
        ({"tools": [{"googleSearch": {}}]}, "`tools[0].googleSearch`"),
        ({"contents": [{"role": "user", "parts": [{"fileData": {"fileUri": "gs://x"}}]}]},
         "`contents[0].parts[0].fileData`"),
    ],
)  # fmt: skip
def test_a_gemini_feature_the_hub_lacks_is_refused_by_name(request_part: Json, named: str) -> None:
    request = {"contents": [{"role": "user", "parts": [{"text": "x"}]}], **request_part}
    with pytest.raises(UntranslatableError) as refused:
        gemini_to_chat(request, "g")
    assert refused.value.feature == named


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("user", "u", "`user`"),
        ("logprobs", True, "`logprobs`"),
        ("parallel_tool_calls", False, "`parallel_tool_calls` false"),
        ("response_format", {"type": "regex"}, "`response_format` (regex)"),
        ("messages", [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://x/cat.png"}}]}],
         "messages[0].content[0] (remote image URL)"),
        ("messages", [{"role": "tool", "tool_call_id": "nope", "content": "x"}],
         "messages[0].tool_call_id (no such call)"),
    ],
)  # fmt: skip
def test_a_chat_feature_gemini_lacks_is_refused_by_name(field: str, value: Any, named: str) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], field: value}
    with pytest.raises(UntranslatableError) as refused:
        chat_to_gemini(body)
    assert (refused.value.feature, refused.value.target) == (named, "gemini")


def test_a_json_schema_response_format_goes_to_gemini_and_back_and_empty_safety_passes() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
    }
    config = chat_to_gemini(body)["generationConfig"]
    assert config == {"responseMimeType": "application/json", "responseJsonSchema": schema}
    back = gemini_to_chat({"contents": [], "generationConfig": config, "safetySettings": []}, "m")
    assert back["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": schema},
    }
    openapi = {"responseMimeType": "application/json", "responseSchema": {"type": "OBJECT"}}
    assert gemini_to_chat({"contents": [], "generationConfig": openapi}, "m")["response_format"][
        "json_schema"
    ]["schema"] == {"type": "object"}


@st.composite
def usages(draw: st.DrawFn) -> Json:
    """Chat usage whose reasoning tokens are part of its completion tokens."""
    completion = draw(st.integers(0, 10**6))
    return {
        "prompt_tokens": draw(st.integers(0, 10**6)),
        "completion_tokens": completion,
        "prompt_tokens_details": {"cached_tokens": draw(st.integers(0, 10))},
        "completion_tokens_details": {"reasoning_tokens": draw(st.integers(0, completion))},
    }


@given(usages())
def test_usage_keeps_its_figures_through_usage_metadata(usage: Json) -> None:
    back = usage_to_chat(usage_to_gemini(usage))
    assert {k: back[k] for k in usage} == usage


def test_a_response_becomes_a_completion_and_back() -> None:
    response = {
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "Let me check", "thought": True},
            {"text": "Calling."},
            {"functionCall": {"name": "f", "args": {"x": 1}}},
        ]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3,
                          "thoughtsTokenCount": 2},
        "modelVersion": "gemini-x",
        "responseId": "r1",
    }  # fmt: skip
    completion = gemini_to_completion(response, 1, "asked")
    [choice] = completion["choices"]
    assert choice["message"]["content"] == "Calling."
    assert choice["message"]["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"x":1}'}
    assert choice["finish_reason"] == "tool_calls"
    assert completion["usage"]["completion_tokens"] == 5
    back = completion_to_gemini(completion)
    assert back["candidates"][0]["content"]["parts"] == [
        {"text": "Calling."},
        {"functionCall": {"name": "f", "args": {"x": 1}}},
    ]
    assert back["usageMetadata"] == {
        "promptTokenCount": 5,
        "candidatesTokenCount": 3,
        "totalTokenCount": 10,
        "thoughtsTokenCount": 2,
    }
    blocked = gemini_to_completion({"promptFeedback": {"blockReason": "SAFETY"}}, 1, "m")
    assert blocked["choices"][0]["finish_reason"] == "content_filter"


def test_the_mock_upstreams_gemini_chunks_become_chat_chunks_ending_in_usage() -> None:
    reply = mr.make_reply(["hi"], "echo: a b c", None)
    stream = GeminiToChat(created=1, model="g")
    chunks = [c for data in mr.gemini_chunks("g", reply, "r") for c in stream.feed(data)]
    chunks += stream.end()
    deltas = [c["choices"][0] for c in chunks if c["choices"]]
    assert "".join(d["delta"].get("content", "") for d in deltas) == "a b c"
    assert deltas[-1]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] == 3


@given(
    pieces=st.lists(st.text(min_size=1, max_size=8), max_size=5),
    calls=st.lists(
        st.dictionaries(
            st.from_regex(r"[a-z]{1,5}", fullmatch=True), st.integers(-9, 9), max_size=2
        ),
        max_size=2,
    ),
)
def test_chat_chunks_survive_a_trip_through_gemini_chunks(
    pieces: list[str], calls: list[Json]
) -> None:
    chunks: list[Json] = [{"choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
    for index, args in enumerate(calls):
        text = orjson.dumps(args).decode()
        half = len(text) // 2
        for part, head in ((text[:half], True), (text[half:], False)):
            call: Json = {"index": index, "function": {"arguments": part}}
            if head:
                call.update(
                    id=f"c{index}",
                    type="function",
                    function={"name": f"f{index}", "arguments": part},
                )
            chunks.append({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    chunks.append({"choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 1}})
    out = ChatToGemini("r", "g")
    gemini = [g for c in chunks for g in out.feed(c)] + out.end()
    assert gemini[-1]["candidates"][0]["finishReason"] == "STOP"
    assert gemini[-1]["usageMetadata"]["promptTokenCount"] == 2
    back = GeminiToChat(created=1, model="g")
    again = [c for g in gemini for c in back.feed(g)] + back.end()
    deltas = [c["choices"][0]["delta"] for c in again if c["choices"]]
    assert "".join(d.get("content", "") for d in deltas) == "".join(pieces)
    made = [
        orjson.loads(t["function"]["arguments"]) for d in deltas for t in d.get("tool_calls", ())
    ]
    assert made == calls
