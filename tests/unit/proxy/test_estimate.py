"""Tests for proxy.estimate: tokenizer-free upper bounds of request tokens."""

from __future__ import annotations

import base64
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from govledger.proxy.enforcement.estimate import (
    BUILTIN_TOOL_TOKENS,
    MEDIA_PART_TOKENS,
    MESSAGE_FRAMING_TOKENS,
    REQUEST_FRAMING_TOKENS,
    TOOL_PROMPT_TOKENS,
    UnboundableInputError,
    input_token_bound,
    output_token_bound,
)

FRAME = MESSAGE_FRAMING_TOKENS
BASE = REQUEST_FRAMING_TOKENS
PNG_300 = base64.b64encode(bytes(300)).decode()  # 400 base64 characters, 300 bytes decoded
TEXT_SURFACES = ["openai_chat", "openai_responses", "anthropic_messages", "gemini"]
unicode_text = st.text(alphabet=st.characters(exclude_categories=()))


def worst_case_tokens(text: str) -> int:
    """Mock tokenizer: at worst one token per UTF-8 byte."""
    return len(text.encode("utf-8", "surrogatepass"))


def message(surface: str, text: str) -> dict[str, object]:
    """A single user message carrying `text` in the surface's shape."""
    if surface == "gemini":
        return {"role": "user", "parts": [{"text": text}]}
    if surface == "openai_responses":
        return {"role": "user", "content": [{"type": "input_text", "text": text}]}
    return {"role": "user", "content": text}


def request(surface: str, *texts: str) -> dict[str, object]:
    """A minimal request carrying one user message per text."""
    if surface == "openai_embeddings":
        return {"input": list(texts)}
    key = {"gemini": "contents", "openai_responses": "input"}.get(surface, "messages")
    return {"max_tokens": 10, key: [message(surface, text) for text in texts]}


def chat(*content: object) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": list(content)}]}


def test_chat_bound_is_text_bytes_plus_framing() -> None:
    body = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": [{"type": "text", "text": "héllo"}]},
        ],
    }
    assert input_token_bound(body, "openai_chat") == BASE + FRAME + 14 + FRAME + 6


def test_chat_tool_definitions_count_as_json_plus_the_tool_prompt() -> None:
    tools = [{"type": "function", "function": {"name": "get", "parameters": {"type": "object"}}}]
    plain = request("openai_chat", "hi")
    with_tools = {**plain, "tools": tools}
    extra = input_token_bound(with_tools, "openai_chat") - input_token_bound(plain, "openai_chat")
    assert extra == TOOL_PROMPT_TOKENS + len(json.dumps(tools, ensure_ascii=False).encode())


def test_chat_tool_call_arguments_and_results_are_counted() -> None:
    arguments = json.dumps({"city": "Zürich", "days": 3})
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    body = {
        "messages": [
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ]
    }
    minimum = BASE + 2 * FRAME + worst_case_tokens(arguments) + len("f") + len("sunny")
    assert input_token_bound(body, "openai_chat") >= minimum


def test_chat_inline_image_audio_and_file_are_bounded_by_decoded_bytes_plus_allowance() -> None:
    image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_300}"}}
    audio = {"type": "input_audio", "input_audio": {"data": PNG_300, "format": "wav"}}
    pdf = {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PNG_300}"}}
    assert input_token_bound(chat(image), "openai_chat") == BASE + FRAME + 300 + MEDIA_PART_TOKENS
    assert input_token_bound(chat(audio, pdf), "openai_chat") >= 2 * (300 + MEDIA_PART_TOKENS)


REMOTE_IMAGE = {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
ANTHROPIC_URL_IMAGE = {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}
UNBOUNDABLE = [
    ("openai_chat", chat(REMOTE_IMAGE), "messages[0].content[0].image_url"),
    ("openai_chat", chat({"type": "image_url", "image_url": "http://x"}), "content[0].image_url"),
    ("openai_chat", chat({"type": "file", "file": {"file_id": "f"}}), "content[0].file.file_id"),
    ("openai_chat", {"messages": [], "web_search_options": {}}, "web_search_options"),
    ("openai_responses", {"input": "hi", "previous_response_id": "r"}, "previous_response_id"),
    ("openai_responses", {"input": [{"type": "input_image", "file_id": "f"}]}, "input[0].file_id"),
    ("openai_responses", {"input": "hi", "tools": [{"type": "web_search"}]}, "web_search"),
    ("openai_responses", {"input": "hi", "tools": [{"type": "file_search"}]}, "file_search"),
    ("anthropic_messages", chat(ANTHROPIC_URL_IMAGE), "messages[0].content[0].source"),
    ("anthropic_messages", {"messages": [], "tools": [{"type": "web_search_1"}]}, "web_search_1"),
    ("anthropic_messages", {"messages": [], "mcp_servers": [{"url": "x"}]}, "mcp_servers"),
    ("gemini", {"contents": [{"parts": [{"fileData": {"fileUri": "gs://b"}}]}]}, "fileData"),
    ("gemini", {"contents": [{"parts": [{"file_data": {"file_uri": "gs://b"}}]}]}, "file_data"),
    ("gemini", {"contents": [], "cachedContent": "cachedContents/1"}, "cachedContent"),
    ("gemini", {"contents": [], "tools": [{"googleSearch": {}}]}, "googleSearch"),
    ("gemini", {"contents": [], "tools": [{"url_context": {}}]}, "url_context"),
]


@pytest.mark.parametrize(("surface", "body", "named"), UNBOUNDABLE)
def test_unboundable_requests_raise_naming_the_cause(
    surface: str, body: dict[str, object], named: str
) -> None:
    with pytest.raises(UnboundableInputError, match=re.escape(named)):
        input_token_bound(body, surface)


def test_missing_messages_and_unknown_surfaces_are_rejected() -> None:
    with pytest.raises(ValueError, match="messages"):
        input_token_bound({"model": "gpt-4o"}, "openai_chat")
    with pytest.raises(ValueError, match="surface"):
        input_token_bound({}, "cohere")


def test_responses_string_input_and_instructions_are_counted() -> None:
    body = {"input": "hi", "instructions": "be nice"}
    assert input_token_bound(body, "openai_responses") == BASE + 2 + FRAME + 7


def test_responses_input_items_and_inline_images_are_bounded() -> None:
    body = {
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "hi"},
                    {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
                ],
            }
        ]
    }
    assert input_token_bound(body, "openai_responses") == BASE + FRAME + 2 + 3 + MEDIA_PART_TOKENS


def test_responses_function_calls_and_outputs_are_counted() -> None:
    body = {
        "input": [
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": '{"q": 1}'},
            {"type": "function_call_output", "call_id": "c", "output": "result"},
        ]
    }
    assert input_token_bound(body, "openai_responses") >= BASE + 2 * FRAME + 8 + len("result")


def test_responses_structured_output_schema_counts_as_input() -> None:
    plain = {"input": "hi"}
    text = {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}}
    assert input_token_bound({**plain, "text": text}, "openai_responses") > input_token_bound(
        plain, "openai_responses"
    )


def test_responses_builtin_client_tools_add_an_allowance_each() -> None:
    plain = {"input": "hi", "tools": [{"type": "function", "name": "f"}]}
    shell = {"input": "hi", "tools": [{"type": "function", "name": "f"}, {"type": "local_shell"}]}
    difference = input_token_bound(shell, "openai_responses") - input_token_bound(
        plain, "openai_responses"
    )
    assert difference >= BUILTIN_TOOL_TOKENS


@pytest.mark.parametrize(
    ("value", "bound"),
    [
        ("héllo", BASE + 6),
        (["a", "bb"], BASE + 3),
        ([1, 2, 3], BASE + 3),
        ([[1, 2], [3]], BASE + 3),
    ],
)
def test_embeddings_count_text_bytes_or_token_ids(value: object, bound: int) -> None:
    assert input_token_bound({"input": value}, "openai_embeddings") == bound


def test_anthropic_system_string_and_blocks_bound_the_same() -> None:
    messages = [{"role": "user", "content": "hi"}]
    as_string = {"max_tokens": 5, "system": "sys", "messages": messages}
    block = {"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}
    as_blocks = {**as_string, "system": [block]}
    assert input_token_bound(as_string, "anthropic_messages") == BASE + FRAME + 2 + FRAME + 3
    assert input_token_bound(as_blocks, "anthropic_messages") == BASE + FRAME + 2 + FRAME + 3


def test_anthropic_tool_use_input_is_counted_as_json() -> None:
    block = {"type": "tool_use", "id": "t", "name": "get", "input": {"city": "Paris"}}
    body = {"max_tokens": 5, "messages": [{"role": "assistant", "content": [block]}]}
    minimum = BASE + FRAME + len('{"city": "Paris"}') + len("get")
    assert input_token_bound(body, "anthropic_messages") >= minimum


def test_anthropic_base64_images_and_text_documents_are_bounded() -> None:
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"},
    }
    document = {"type": "document", "source": {"type": "text", "data": "doc body"}}
    result = {"type": "tool_result", "tool_use_id": "t", "content": [image]}
    body = {"max_tokens": 5, "messages": [{"role": "user", "content": [document, result]}]}
    assert input_token_bound(body, "anthropic_messages") >= BASE + FRAME + 8 + 3 + MEDIA_PART_TOKENS


def test_gemini_contents_and_system_instruction_are_counted() -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "systemInstruction": {"parts": [{"text": "sys"}]},
    }
    assert input_token_bound(body, "gemini") == BASE + FRAME + 2 + FRAME + 3


@pytest.mark.parametrize("key", ["inlineData", "inline_data"])
def test_gemini_inline_data_is_bounded_by_decoded_bytes(key: str) -> None:
    part = {key: {"mimeType": "image/png", "data": PNG_300}}
    body = {"contents": [{"role": "user", "parts": [part]}]}
    assert input_token_bound(body, "gemini") == BASE + FRAME + 300 + MEDIA_PART_TOKENS


def test_gemini_function_declarations_are_counted_as_json() -> None:
    tools = [{"functionDeclarations": [{"name": "f", "parameters": {"type": "object"}}]}]
    plain = {"contents": [{"parts": [{"text": "hi"}]}]}
    extra = input_token_bound({**plain, "tools": tools}, "gemini") - input_token_bound(
        plain, "gemini"
    )
    assert extra == TOOL_PROMPT_TOKENS + len(json.dumps(tools).encode())


GEMINI_CAP = {"generationConfig": {"maxOutputTokens": 256}}
OUTPUT_CASES = [
    ("openai_chat", {"max_completion_tokens": 100}, 16_384, 100),
    ("openai_chat", {"max_tokens": 50}, 16_384, 50),
    ("openai_chat", {"max_tokens": 50, "max_completion_tokens": 100}, None, 100),
    ("openai_chat", {"max_tokens": 50, "n": 3}, None, 150),
    ("openai_chat", {}, 4_096, 4_096),
    ("openai_chat", {"max_tokens": None}, None, 16_384),
    ("openai_responses", {"max_output_tokens": 7}, None, 7),
    ("anthropic_messages", {"max_tokens": 1024}, 8_192, 1024),
    ("gemini", GEMINI_CAP, 65_536, 256),
    ("gemini", {"generationConfig": {"maxOutputTokens": 256, "candidateCount": 2}}, None, 512),
    ("gemini", {"generation_config": {"max_output_tokens": 64}}, None, 64),
    ("gemini", {}, 65_536, 65_536),
    ("openai_embeddings", {"input": "x"}, 8_192, 0),
]


@pytest.mark.parametrize(("surface", "body", "catalog", "expected"), OUTPUT_CASES)
def test_output_bound_is_the_request_cap_times_choices_else_the_catalog_limit(
    surface: str, body: dict[str, object], catalog: int | None, expected: int
) -> None:
    assert output_token_bound(body, surface, catalog) == expected


def test_output_bound_uses_the_fallback_without_cap_or_catalog_limit() -> None:
    assert output_token_bound({}, "openai_responses", None, fallback=1_000) == 1_000


def test_anthropic_requires_max_tokens() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        output_token_bound({"messages": []}, "anthropic_messages", catalog_limit=8192)


@pytest.mark.parametrize("value", [-1, "10", True, 1.5])
@pytest.mark.parametrize(
    ("surface", "field"),
    [
        ("openai_chat", "max_tokens"),
        ("openai_chat", "max_completion_tokens"),
        ("openai_chat", "n"),
        ("openai_responses", "max_output_tokens"),
        ("anthropic_messages", "max_tokens"),
    ],
)
def test_invalid_output_caps_raise_naming_the_field(
    surface: str, field: str, value: object
) -> None:
    with pytest.raises(ValueError, match=field):
        output_token_bound({field: value}, surface, catalog_limit=None)


def test_invalid_gemini_output_cap_raises_naming_the_field() -> None:
    with pytest.raises(ValueError, match="maxOutputTokens"):
        output_token_bound({"generationConfig": {"maxOutputTokens": -5}}, "gemini", None)


def test_lone_surrogates_count_three_bytes_each() -> None:
    assert input_token_bound({"input": "\ud800"}, "openai_embeddings") == BASE + 3


@given(unicode_text, st.sampled_from([*TEXT_SURFACES, "openai_embeddings"]))
def test_bound_is_at_least_the_worst_case_token_count(text: str, surface: str) -> None:
    assert input_token_bound(request(surface, text), surface) >= worst_case_tokens(text)


@given(st.lists(unicode_text, max_size=8), st.sampled_from(TEXT_SURFACES))
def test_bound_covers_every_message_plus_framing(texts: list[str], surface: str) -> None:
    minimum = sum(worst_case_tokens(text) + FRAME for text in texts)
    assert input_token_bound(request(surface, *texts), surface) >= minimum


@given(st.binary(max_size=4096))
def test_base64_media_bound_is_at_least_its_decoded_size(payload: bytes) -> None:
    data = base64.b64encode(payload).decode()
    image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}
    assert input_token_bound(chat(image), "openai_chat") >= len(payload) + MEDIA_PART_TOKENS
