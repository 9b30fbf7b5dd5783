"""OpenAI chat <-> Anthropic Messages: requests, responses and streams, both ways."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from govledger.proxy.fake_upstream import replies as mr
from govledger.proxy.translate import UntranslatableError
from govledger.proxy.translate.anthropic_request import anthropic_to_chat, chat_to_anthropic
from govledger.proxy.translate.anthropic_response import (
    AnthropicToChat,
    ChatToAnthropic,
    completion_to_message,
    message_to_completion,
    usage_to_anthropic,
    usage_to_chat,
)

Json = dict[str, Any]
texts = st.text(min_size=1, max_size=20)
names = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
arguments = st.dictionaries(names, st.integers(-(2**53), 2**53) | st.text(max_size=5), max_size=3)


@st.composite
def conversations(draw: st.DrawFn) -> list[Json]:
    """Chat conversations in canonical form: system, then user / assistant turns, where an
    assistant's tool calls are followed by one result each."""
    messages: list[Json] = []
    if draw(st.booleans()):
        messages.append({"role": "system", "content": draw(texts)})
    for turn in range(draw(st.integers(1, 4))):
        messages.append({"role": "user", "content": draw(texts)})
        calls = [
            {
                "id": f"call_{turn}_{i}",
                "type": "function",
                "function": {
                    "name": draw(names),
                    "arguments": orjson.dumps(draw(arguments)).decode(),
                },
            }
            for i in range(draw(st.integers(0, 2)))
        ]
        reply: Json = {
            "role": "assistant",
            "content": draw(texts) if not calls or draw(st.booleans()) else None,
        }
        if calls:
            reply["tool_calls"] = calls
        messages.append(reply)
        messages += [
            {"role": "tool", "tool_call_id": call["id"], "content": draw(texts)} for call in calls
        ]
    return messages


def normalised(messages: list[Json]) -> list[Json]:
    """Tool-call arguments decoded, so JSON spacing does not matter."""
    out = []
    for message in messages:
        message = dict(message)
        if "tool_calls" in message:
            message["tool_calls"] = [
                {
                    **c,
                    "function": {
                        **c["function"],
                        "arguments": orjson.loads(c["function"]["arguments"]),
                    },
                }
                for c in message["tool_calls"]
            ]
        out.append(message)
    return out


@given(conversations())
def test_a_conversation_survives_the_trip_to_anthropic_and_back(messages: list[Json]) -> None:
    body = {"model": "m", "messages": messages, "max_tokens": 50, "temperature": 0.5}
    there = chat_to_anthropic(body, "claude-x", 4096)
    back = anthropic_to_chat(there)
    assert normalised(back["messages"]) == normalised(messages)
    assert (back["max_completion_tokens"], back["temperature"]) == (50, 0.5)
    roles = [m["role"] for m in there["messages"]]
    assert all(a != b for a, b in zip(roles, roles[1:], strict=False)), "roles must alternate"


def test_system_messages_tools_and_choices_are_carried_in_anthropics_terms() -> None:
    body = {
        "model": "gpt",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Be kind."}]},
            {"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ]},
        ],
        "tools": [{"type": "function",
                   "function": {"name": "look", "parameters": {"type": "object"}}}],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "stop": "END",
        "user": "u-1",
        "stream": True,
    }  # fmt: skip
    out = chat_to_anthropic(body, "claude-x", 1234)
    assert out["system"] == "Be brief.\n\nBe kind."
    assert out["max_tokens"] == 1234
    assert out["messages"][0]["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"},
    }
    assert out["tools"] == [{"name": "look", "input_schema": {"type": "object"}}]
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert (out["stop_sequences"], out["metadata"], out["stream"]) == (
        ["END"],
        {"user_id": "u-1"},
        True,
    )


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("logprobs", True, "`logprobs`"),
        ("n", 2, "`n` above 1"),
        ("temperature", 1.5, "`temperature` above 1"),
        ("response_format", {"type": "json_object"}, "`response_format`"),
        ("seed", 7, "`seed`"),
        ("tools", [{"type": "function", "function": {"name": "f", "strict": True}}],
         "tools[0].function.strict"),
        ("messages", [{"role": "user", "content": "hi", "name": "bob"}], "`messages[0].name`"),
        ("messages", [{"role": "user", "content": [{"type": "input_audio"}]}],
         "messages[0].content[0] (input_audio part)"),
    ],
)  # fmt: skip
def test_a_chat_feature_anthropic_lacks_is_refused_by_name(
    field: str, value: Any, named: str
) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], field: value}
    with pytest.raises(UntranslatableError) as refused:
        chat_to_anthropic(body, "c", 10)
    assert refused.value.feature == named
    assert refused.value.target == "anthropic"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"thinking": {"type": "enabled", "budget_tokens": 100}}, "`thinking`"),
        ({"top_k": 5}, "`top_k`"),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]},
         "tools[0] (web_search_20250305)"),
        ({"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]},
         "messages[0].content[0] (document block)"),
    ],
)  # fmt: skip
def test_an_anthropic_feature_the_hub_lacks_is_refused_by_name(body: Json, named: str) -> None:
    request = {
        "model": "m",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "x"}],
        **body,
    }
    with pytest.raises(UntranslatableError) as refused:
        anthropic_to_chat(request)
    assert refused.value.feature == named


def test_cache_hints_are_the_one_thing_left_behind_and_errors_are_marked_in_tool_results() -> None:
    hint = {"type": "ephemeral"}
    request = {
        "model": "m",
        "max_tokens": 5,
        "system": [{"type": "text", "text": "sys", "cache_control": hint}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "q", "cache_control": hint}]},
            {"role": "assistant",
             "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "boom", "is_error": True},
                {"type": "text", "text": "and?"},
            ]},
        ],
        "tool_choice": {"type": "tool", "name": "f", "disable_parallel_tool_use": True},
    }  # fmt: skip
    out = anthropic_to_chat(request)
    assert [m["role"] for m in out["messages"]] == ["system", "user", "assistant", "tool", "user"]
    assert out["messages"][0]["content"] == "sys"
    assert out["messages"][3] == {"role": "tool", "tool_call_id": "t1", "content": "Error: boom"}
    assert out["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert out["parallel_tool_calls"] is False


usages = st.fixed_dictionaries(
    {
        "input_tokens": st.integers(0, 10**6),
        "output_tokens": st.integers(0, 10**6),
        "cache_read_input_tokens": st.integers(0, 10**6),
        "cache_creation_input_tokens": st.just(0),
    }
)


@given(
    text=st.text(max_size=30),
    calls=st.lists(st.tuples(names, arguments), max_size=2),
    stop=st.sampled_from(["end_turn", "max_tokens", "tool_use"]),
    usage=usages,
)
def test_a_message_survives_the_trip_to_a_completion_and_back(
    text: str, calls: list[tuple[str, Json]], stop: str, usage: Json
) -> None:
    content: list[Json] = [{"type": "text", "text": text}] if text else []
    content += [
        {"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": args}
        for i, (name, args) in enumerate(calls)
    ]
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }
    completion = message_to_completion(message, 1700000000)
    assert (
        completion["usage"]["prompt_tokens"]
        == usage["input_tokens"] + usage["cache_read_input_tokens"]
    )
    assert completion_to_message(completion) == message


@given(usages)
def test_usage_moves_cache_reads_into_the_prompt_and_back_out(usage: Json) -> None:
    assert usage_to_anthropic(usage_to_chat(usage)) == usage


def test_the_mock_upstreams_anthropic_stream_becomes_chat_chunks_ending_in_usage() -> None:
    reply = mr.make_reply(["hello"], "echo: one two", 10)
    events = [
        orjson.loads(f.split(b"data: ", 1)[1]) for f in mr.anthropic_frames("c", reply, "msg_1")
    ]
    stream = AnthropicToChat(created=1)
    chunks = [chunk for event in events for chunk in stream.feed(event)]
    assert stream.done
    assert (
        "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
        == "one two"
    )
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert chunks[-1]["usage"] == usage_to_chat({"input_tokens": 2, "output_tokens": 2})


@given(
    pieces=st.lists(st.text(min_size=1, max_size=8), max_size=5),
    calls=st.lists(
        st.tuples(names, st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=3)),
        max_size=2,
    ),
)
def test_chat_chunks_survive_a_trip_through_anthropic_stream_events(
    pieces: list[str], calls: list[tuple[str, list[str]]]
) -> None:
    chunks: list[Json] = [
        {"model": "m", "choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces
    ]
    for index, (name, parts) in enumerate(calls):
        head = {"index": index, "id": f"call_{index}", "type": "function",
                "function": {"name": name, "arguments": parts[0]}}  # fmt: skip
        chunks.append({"choices": [{"index": 0, "delta": {"tool_calls": [head]}}]})
        for part in parts[1:]:
            delta = {"tool_calls": [{"index": index, "function": {"arguments": part}}]}
            chunks.append({"choices": [{"index": 0, "delta": delta}]})
    finish = "tool_calls" if calls else "stop"
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    chunks.append({"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2}})
    out = ChatToAnthropic("msg_x", "m")
    events = [data for chunk in chunks for _, data in out.feed(chunk)] + [d for _, d in out.end()]
    assert events[-1] == {"type": "message_stop"}
    back = AnthropicToChat(created=1)
    again = [c for e in events for c in back.feed(e)]
    deltas = [c["choices"][0]["delta"] for c in again if c["choices"]]
    assert "".join(d.get("content", "") for d in deltas) == "".join(pieces)
    joined: dict[int, str] = {}
    for delta in deltas:
        for call in delta.get("tool_calls", ()):
            joined[call["index"]] = joined.get(call["index"], "") + call["function"]["arguments"]
    assert joined == {i: "".join(parts) for i, (_, parts) in enumerate(calls)}
    assert [c["choices"][0]["finish_reason"] for c in again if c["choices"]][-1] == finish
    assert again[-1]["usage"]["prompt_tokens"] == 4
