"""Usage read from each vendor's responses and streams, normalised to TokenUsage."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from govledger.proxy.enforcement.cost import TokenUsage
from govledger.proxy.translate.anthropic_response import usage_to_chat
from govledger.proxy.upstream.vendor_usage import (
    TOKEN_CEILING,
    StreamUsage,
    from_anthropic,
    from_gemini,
    from_openai_chat,
    of_response,
    tokens_dict,
)

counts = st.integers(0, 10**7)


@given(counts, counts, counts, counts)
def test_anthropic_input_is_charged_with_its_cache_reads_and_writes(
    fresh: int, read: int, written: int, output: int
) -> None:
    usage = {
        "input_tokens": fresh,
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": written,
        "output_tokens": output,
    }
    assert from_anthropic(usage) == TokenUsage(fresh + read + written, output, read, 0, written)
    assert from_openai_chat(usage_to_chat(usage)) == TokenUsage(
        fresh + read + written, output, read
    )


def test_gemini_thoughts_are_output_and_tool_use_prompts_are_input() -> None:
    metadata = {
        "promptTokenCount": 100,
        "cachedContentTokenCount": 40,
        "toolUsePromptTokenCount": 10,
        "candidatesTokenCount": 20,
        "thoughtsTokenCount": 30,
        "totalTokenCount": 160,
    }
    assert from_gemini(metadata) == TokenUsage(input=110, output=50, cached=40, reasoning=30)
    assert of_response("gemini", {"usageMetadata": metadata}) == from_gemini(metadata)
    assert from_gemini(None) is None


def test_an_anthropic_stream_keeps_the_last_cumulative_figures_never_a_sum() -> None:
    seen = StreamUsage("anthropic_messages")
    start = {"usage": {"input_tokens": 5, "cache_read_input_tokens": 7, "output_tokens": 1}}
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": start},
        {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "x"}},
        {"type": "message_delta", "usage": {"output_tokens": 4}},
        {"type": "message_delta", "usage": {"output_tokens": 9, "input_tokens": None}},
    ]
    for event in events:
        seen.observe(event)
    assert seen.usage == TokenUsage(input=12, output=9, cached=7)


def test_a_gemini_stream_keeps_the_last_chunks_usage() -> None:
    seen = StreamUsage("gemini")
    for out in (1, 2, 3):
        seen.observe({"usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": out}})
    seen.observe({"candidates": []})
    assert seen.usage == TokenUsage(input=4, output=3)


def test_cache_writes_appear_on_the_settled_tokens_only_when_there_are_some() -> None:
    assert "cache_write" not in tokens_dict(TokenUsage(3, 1))
    assert tokens_dict(TokenUsage(10, 1, cached=2, cache_write=5))["cache_write"] == 5


@given(st.one_of(st.integers(), st.booleans(), st.floats(), st.text(), st.none()))
def test_a_reported_count_is_read_as_a_bounded_non_negative_integer(value: object) -> None:
    usage = from_openai_chat({"prompt_tokens": value, "completion_tokens": value})
    assert usage is not None
    for count in (usage.input, usage.output):
        assert isinstance(count, int) and 0 <= count <= TOKEN_CEILING
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= TOKEN_CEILING:
        assert usage.output == value
