"""Read token usage out of upstream responses and stream chunks (OpenAI shapes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from proxy.cost import TokenUsage


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


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
}


def tokens_dict(usage: TokenUsage) -> dict[str, int]:
    """The token figures as stored on the settled event."""
    return {
        "input": usage.input,
        "output": usage.output,
        "cached": usage.cached,
        "reasoning": usage.reasoning,
    }
