"""Any surface to any provider type: which API serves it, and the translated stream's frames."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from govledger.proxy.fake_upstream import replies as mr
from govledger.proxy.translate import UntranslatableError
from govledger.proxy.translate.pipeline import (
    TranslatedStream,
    error_message,
    native_api,
    translate_request,
    translate_response,
)

REPLY = mr.make_reply(["hi"], "echo: one two", None)
HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("surface", "provider", "api"),
    [
        ("openai_chat", "openai", "openai_chat"),
        ("openai_chat", "anthropic", "anthropic_messages"),
        ("anthropic_messages", "gemini", "gemini"),
        ("gemini", "openai", "openai_chat"),
        ("openai_responses", "openai", "openai_responses"),
        ("openai_embeddings", "openai", "openai_embeddings"),
    ],
)
def test_a_surface_is_served_by_its_own_api_or_the_providers_chat_api(
    surface: str, provider: str, api: str
) -> None:
    assert native_api(surface, provider) == api


@pytest.mark.parametrize("surface", ["openai_responses", "openai_embeddings"])
def test_responses_and_embeddings_have_no_other_vendor(surface: str) -> None:
    with pytest.raises(UntranslatableError, match="cannot be translated for provider type gemini"):
        native_api(surface, "gemini")


def test_a_request_to_its_own_vendor_only_gets_the_providers_model_name() -> None:
    body = {"model": "alias", "messages": HI, "logprobs": True}
    assert translate_request("openai_chat", "openai", body, "real", False, 10) == {
        **body,
        "model": "real",
    }
    gemini = {"contents": [{"parts": [{"text": "hi"}]}]}
    assert translate_request("gemini", "gemini", gemini, "g", True, 10) is gemini


def test_an_anthropic_request_reaches_gemini_through_the_hub() -> None:
    body = {"model": "c", "max_tokens": 7, "system": "s", "messages": HI, "stream": True}
    out = translate_request("anthropic_messages", "gemini", body, "g", True, 10)
    assert out == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "systemInstruction": {"parts": [{"text": "s"}]},
        "generationConfig": {"maxOutputTokens": 7},
    }


def test_a_gemini_response_is_answered_to_an_anthropic_client() -> None:
    response = mr.gemini_response("g", REPLY, "r1", REPLY.text, REPLY.output_tokens, True)
    message = translate_response("anthropic_messages", "gemini", response, "g", 1)
    assert message["content"] == [{"type": "text", "text": "one two"}]
    assert (message["stop_reason"], message["usage"]["output_tokens"]) == ("end_turn", 2)


def frames_of(stream: TranslatedStream, events: list[Any]) -> list[tuple[bytes, bool]]:
    """Every frame a translated stream sends for the events, then its end."""
    return [f for e in events for f in stream.feed(e)] + stream.end()


def test_an_anthropic_stream_to_a_chat_client_ends_on_done_after_a_usage_chunk_if_asked() -> None:
    events = [orjson.loads(f.split(b"data: ", 1)[1]) for f in mr.anthropic_frames("c", REPLY, "m")]
    for wants_usage in (True, False):
        frames = frames_of(
            TranslatedStream("openai_chat", "anthropic_messages", "c", 1, "r", wants_usage), events
        )
        assert frames[-1] == (b"data: [DONE]\n\n", True)
        assert [final for _, final in frames].count(True) == 1
        usage_frames = [f for f, _ in frames if b'"usage"' in f]
        assert bool(usage_frames) is wants_usage


def test_a_chat_stream_to_a_gemini_client_ends_on_its_finishing_chunk() -> None:
    events = [orjson.loads(f[6:]) for f in mr.chat_frames("m", REPLY, "c1", 1, True)[:-1]]
    stream = TranslatedStream("gemini", "openai_chat", "m", 1, "r", False)
    frames = [f for e in events for f in stream.feed(e)] + stream.feed(None)
    *body, (last, final) = frames
    assert final and not any(flag for _, flag in body)
    chunk = orjson.loads(last[6:])
    assert chunk["candidates"][0]["finishReason"] == "STOP"
    assert chunk["usageMetadata"]["candidatesTokenCount"] == 2
    assert stream.delivered_text_bytes == len(b"one two")


def test_a_provider_stream_cut_short_ends_without_a_final_frame() -> None:
    stream = TranslatedStream("anthropic_messages", "openai_chat", "m", 1, "r", False)
    stream.feed({"choices": [{"index": 0, "delta": {"content": "par"}}]})
    assert stream.end() == []


def test_error_messages_are_read_from_every_vendor_shape() -> None:
    assert error_message(b'{"error": {"message": "bad", "type": "x"}}') == "bad"
    assert (
        error_message(b'{"type": "error", "error": {"type": "x", "message": "worse"}}') == "worse"
    )
    assert error_message(b"<html>oops</html>") == "<html>oops</html>"


def test_a_feature_lost_on_the_way_to_the_hub_is_named_for_the_provider() -> None:
    body = {"model": "c", "max_tokens": 5, "messages": HI, "top_k": 3}
    with pytest.raises(UntranslatableError) as refused:
        translate_request("anthropic_messages", "gemini", body, "g", False, 10)
    assert (refused.value.feature, refused.value.target) == ("`top_k`", "gemini")
