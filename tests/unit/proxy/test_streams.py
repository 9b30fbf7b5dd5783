"""Streams passed through to the same vendor: usage-only chunks, the last event, usage."""

from __future__ import annotations

from govledger.proxy.enforcement.cost import TokenUsage
from govledger.proxy.fake_upstream import replies as mr
from govledger.proxy.upstream.stream_plan import StreamPlan, error_frame

REPLY = mr.make_reply(["hi"], "echo: one two", None)


def run(plan: StreamPlan, frames: list[bytes]) -> list[tuple[bytes, bool]]:
    """Feed SSE frames (with their blank line) to a plan, then end it."""
    out = [f for frame in frames for f in plan.feed(frame.rstrip(b"\n"))]
    return out + plan.end()


def test_a_chat_stream_drops_the_usage_chunk_the_client_did_not_ask_for_and_ends_on_done() -> None:
    frames = mr.chat_frames("m", REPLY, "c", 1, include_usage=True)
    for wants in (False, True):
        plan = StreamPlan("openai_chat", "openai_chat", "m", 1, "r", wants)
        out = run(plan, frames)
        assert out[-1] == (b"data: [DONE]\n\n", True)
        assert (len(out) == len(frames)) is wants
        assert plan.usage.usage == TokenUsage(input=1, output=2)
        assert plan.delivered_text_bytes == len(b"one two")


def test_an_anthropic_stream_passes_through_and_ends_on_message_stop() -> None:
    frames = mr.anthropic_frames("c", REPLY, "m")
    plan = StreamPlan("anthropic_messages", "anthropic_messages", "c", 1, "r", False)
    out = run(plan, frames)
    assert [f for f, _ in out] == frames
    assert [final for _, final in out] == [False] * (len(frames) - 1) + [True]
    assert plan.usage.usage == TokenUsage(input=1, output=2)


def test_a_gemini_stream_ends_on_its_finishing_chunk_and_settles_at_the_end_without_one() -> None:
    frames = [mr.sse(c) for c in mr.gemini_chunks("g", REPLY, "r")]
    plan = StreamPlan("gemini", "gemini", "g", 1, "r", False)
    out = run(plan, frames)
    assert [final for _, final in out] == [False] * (len(frames) - 1) + [True]
    unfinished = StreamPlan("gemini", "gemini", "g", 1, "r", False)
    assert run(unfinished, frames[:-1])[-1] == (b"", True)


def test_a_broken_stream_is_reported_in_each_surfaces_shape() -> None:
    assert error_frame("openai_chat", "x").startswith(b'data: {"error":{"message":"x"')
    assert error_frame("anthropic_messages", "x").startswith(b"event: error\ndata: ")
    assert b'"status":"UNAVAILABLE"' in error_frame("gemini", "x")
