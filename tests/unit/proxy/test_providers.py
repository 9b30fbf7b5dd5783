"""Each provider type is called natively: its URL, its auth header, its body."""

from __future__ import annotations

import orjson
import pytest

from govledger.projections.policy import ProviderKey, Route
from govledger.proxy.translate import UntranslatableError
from govledger.proxy.upstream.providers import prepare

HI = [{"role": "user", "content": "hi"}]


def route(kind: str, base_url: str, model_map: tuple[tuple[str, str], ...] = ()) -> Route:
    """A route of one provider type with one key."""
    key = ProviderKey("k", 1.0, ("*",), "secret")
    return Route("p", kind, base_url, 1.0, ("*",), (key,), (), (), model_map)


def test_an_openai_provider_gets_a_bearer_key_and_a_usage_chunk_on_streams() -> None:
    body = {"model": "p/m1", "messages": HI, "stream": True}
    sent = prepare("openai_chat", body, "p/m1", True, {}, None, route("openai", "http://o/v1"), "s")
    assert (sent.url, sent.headers["authorization"], sent.api) == (
        "http://o/v1/chat/completions",
        "Bearer s",
        "openai_chat",
    )
    payload = orjson.loads(sent.payload)
    assert payload["model"] == "m1"
    assert payload["stream_options"] == {"include_usage": True}


def test_an_anthropic_provider_gets_x_api_key_a_version_and_the_clients_betas() -> None:
    body = {"model": "c", "max_tokens": 5, "messages": HI}
    headers = {"anthropic-version": "2023-06-01", "anthropic-beta": "b1", "x-other": "no"}
    target = route("anthropic", "https://api.anthropic.com")
    sent = prepare("anthropic_messages", body, "c", False, headers, None, target, "s")
    assert sent.url == "https://api.anthropic.com/v1/messages"
    assert sent.headers == {
        "content-type": "application/json",
        "x-api-key": "s",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "b1",
    }
    from_chat = prepare("openai_chat", {"messages": HI}, "c", False, headers, None, target, "s")
    assert "anthropic-beta" not in from_chat.headers
    assert orjson.loads(from_chat.payload)["max_tokens"] == 4096  # none asked: within any model


def test_a_gemini_provider_is_called_at_the_clients_version_else_v1beta() -> None:
    target = route("gemini", "https://generativelanguage.googleapis.com", model_map=(("a", "g-2"),))
    gemini = {"contents": [{"parts": [{"text": "hi"}]}]}
    sent = prepare("gemini", gemini, "a", True, {}, "v1", target, "s")
    assert sent.url == (
        "https://generativelanguage.googleapis.com/v1/models/g-2:streamGenerateContent?alt=sse"
    )
    assert (sent.headers["x-goog-api-key"], sent.model) == ("s", "g-2")
    other = prepare("openai_chat", {"messages": HI}, "a", False, {}, None, target, "s")
    assert other.url.endswith("/v1beta/models/g-2:generateContent")
    assert other.api == "gemini"


def test_an_untranslatable_request_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(UntranslatableError):
        prepare(
            "openai_embeddings", {"input": "x"}, "e", False, {}, None, route("gemini", "g"), "s"
        )
