"""Read token usage out of upstream responses and stream events, in each vendor's shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from govledger.proxy.enforcement.cost import TokenUsage
from govledger.proxy.enforcement.cost import tokens_dict as tokens_dict  # stored figures

# A broken or hostile upstream can report any number; what is recorded stays a 64-bit integer
# whatever sum it enters (a billion billion tokens is far above any real answer).
TOKEN_CEILING = 10**12


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return min(value, TOKEN_CEILING)


def from_openai_chat(usage: Any) -> TokenUsage | None:
    """Chat completions usage: prompt (incl. cached), completion (incl. reasoning)."""
    if not isinstance(usage, Mapping):
        return None
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    return _usage(
        _int(usage.get("prompt_tokens")),
        _int(usage.get("completion_tokens")),
        _int(prompt.get("cached_tokens")),
        _int(completion.get("reasoning_tokens")),
    )


def from_openai_responses(usage: Any) -> TokenUsage | None:
    """Responses API usage: input (incl. cached), output (incl. reasoning)."""
    if not isinstance(usage, Mapping):
        return None
    inputs = usage.get("input_tokens_details") or {}
    outputs = usage.get("output_tokens_details") or {}
    return _usage(
        _int(usage.get("input_tokens")),
        _int(usage.get("output_tokens")),
        _int(inputs.get("cached_tokens")),
        _int(outputs.get("reasoning_tokens")),
    )


def from_openai_embeddings(usage: Any) -> TokenUsage | None:
    """Embeddings usage: prompt tokens only."""
    if not isinstance(usage, Mapping):
        return None
    return _usage(_int(usage.get("prompt_tokens")), 0, 0, 0)


def from_anthropic(usage: Any) -> TokenUsage | None:
    """Messages usage: `input_tokens` excludes cache reads and writes, which are added here."""
    if not isinstance(usage, Mapping):
        return None
    read = _int(usage.get("cache_read_input_tokens"))
    written = _int(usage.get("cache_creation_input_tokens"))
    return TokenUsage(
        input=_int(usage.get("input_tokens")) + read + written,
        output=_int(usage.get("output_tokens")),
        cached=read,
        cache_write=written,
    )


def from_gemini(metadata: Any) -> TokenUsage | None:
    """usageMetadata: prompt (incl. cached) plus tool-use prompt; candidates plus thoughts."""
    if not isinstance(metadata, Mapping):
        return None
    prompt = _int(metadata.get("promptTokenCount")) + _int(metadata.get("toolUsePromptTokenCount"))
    thoughts = _int(metadata.get("thoughtsTokenCount"))
    return _usage(
        prompt,
        _int(metadata.get("candidatesTokenCount")) + thoughts,
        _int(metadata.get("cachedContentTokenCount")),
        thoughts,
    )


def _usage(input_tokens: int, output: int, cached: int, reasoning: int) -> TokenUsage:
    return TokenUsage(
        input=input_tokens,
        output=max(output, reasoning),
        cached=min(cached, input_tokens),
        reasoning=reasoning,
    )


READERS = {
    "openai_chat": from_openai_chat,
    "openai_responses": from_openai_responses,
    "openai_embeddings": from_openai_embeddings,
    "anthropic_messages": from_anthropic,
    "gemini": from_gemini,
}


def of_response(api: str, body: Mapping[str, Any]) -> TokenUsage | None:
    """The usage of a whole response of a provider API."""
    return READERS[api](body.get("usageMetadata" if api == "gemini" else "usage"))


class StreamUsage:
    """Usage seen so far in a provider's stream: the last figures, never a sum."""

    def __init__(self, api: str) -> None:
        self.api = api
        self.usage: TokenUsage | None = None
        self._anthropic: dict[str, Any] = {}

    def observe(self, event: Mapping[str, Any]) -> None:
        """Read one decoded stream event."""
        if self.api == "openai_chat":
            if event.get("usage"):
                self.usage = from_openai_chat(event["usage"])
        elif self.api == "openai_responses":
            if event.get("type") == "response.completed":
                self.usage = from_openai_responses((event.get("response") or {}).get("usage"))
        elif self.api == "anthropic_messages":
            if event.get("type") == "message_start":
                self._anthropic.update((event.get("message") or {}).get("usage") or {})
            elif event.get("type") == "message_delta":  # cumulative: the latest figures win
                figures = event.get("usage") or {}
                self._anthropic.update({k: v for k, v in figures.items() if v is not None})
            else:
                return
            self.usage = from_anthropic(self._anthropic)
        elif self.api == "gemini" and event.get("usageMetadata"):
            self.usage = from_gemini(event["usageMetadata"])
