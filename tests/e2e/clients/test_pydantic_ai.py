"""pydantic-ai agents on the gateway's OpenAI surface: run, stream, a tool loop, typed
output, usage equal to the ledger, a spent budget as ModelHTTPError 402, fallback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from tests.conftest import RunningGateway
from tests.e2e.clients.support import (
    FALLBACK,
    KEYS,
    MODEL,
    POOR,
    ledger_matches,
    running_gateway,
    served_by_fallback,
    settled_count,
)
from tests.e2e.openai_support import HELLO, HELLO_WORDS

DIST = "pydantic-ai-slim"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    yield from running_gateway(tmp_path_factory.mktemp("pydantic-ai"))


def chat_model(gateway: RunningGateway, key: str = KEYS["openai"]) -> OpenAIChatModel:
    """pydantic-ai's OpenAI chat model on the gateway."""
    provider = OpenAIProvider(base_url=gateway.url + "/v1", api_key=key)
    return OpenAIChatModel(MODEL, provider=provider)


@pytest.mark.compat(DIST, "run")
def test_a_run_answers_and_its_usage_is_the_ledgers(gateway: RunningGateway) -> None:
    result = Agent(chat_model(gateway)).run_sync("hi")
    assert result.output == HELLO
    usage = result.usage
    assert (usage.input_tokens, usage.output_tokens) == (1, HELLO_WORDS)
    ledger_matches(gateway, 1, HELLO_WORDS)


@pytest.mark.compat(DIST, "stream")
async def test_a_streamed_run_yields_text_and_its_usage_is_the_ledgers(
    gateway: RunningGateway,
) -> None:
    agent = Agent(chat_model(gateway))
    async with agent.run_stream("echo: one two three") as run:
        pieces = [text async for text in run.stream_text(delta=True)]
        usage = run.usage
    assert "".join(pieces) == "one two three"
    in_tokens = -(-len(b"echo: one two three") // 4)
    assert (usage.input_tokens, usage.output_tokens) == (in_tokens, 3)
    ledger_matches(gateway, in_tokens, 3)


@pytest.mark.compat(DIST, "tool calls")
def test_the_agent_calls_a_tool_and_answers_with_its_result(gateway: RunningGateway) -> None:
    agent = Agent(chat_model(gateway))
    seen: list[tuple[int, int]] = []

    @agent.tool_plain
    def add(a: int, b: int) -> int:
        """Add two integers."""
        seen.append((a, b))
        return a + b

    before = settled_count(gateway)
    result = agent.run_sync('tool: add {"a": 2, "b": 3}')
    assert seen == [(2, 3)]
    assert result.output == "Tool said: 5"
    assert settled_count(gateway) == before + 2
    assert result.usage.requests == 2


class City(BaseModel):
    """A city and its population."""

    name: str
    population: int


@pytest.mark.compat(DIST, "structured output")
def test_typed_output_comes_back_as_the_model(gateway: RunningGateway) -> None:
    result = Agent(chat_model(gateway), output_type=City).run_sync("Name a city.")
    assert result.output == City(name="mock", population=1)


@pytest.mark.compat(DIST, "budget refusal")
def test_a_spent_budget_raises_model_http_error_402(gateway: RunningGateway) -> None:
    with pytest.raises(ModelHTTPError) as caught:
        Agent(chat_model(gateway, POOR)).run_sync("hi")
    assert caught.value.status_code == 402
    assert "budget" in str(caught.value.body)


@pytest.mark.compat(DIST, "cross-provider fallback")
def test_an_anthropic_route_answers_when_the_openai_one_is_down(gateway: RunningGateway) -> None:
    result = Agent(chat_model(gateway, FALLBACK["openai"])).run_sync("hi")
    assert result.output == HELLO
    settled = served_by_fallback(gateway, "openai")
    usage = result.usage
    assert (settled.tokens["input"], settled.tokens["output"]) == (
        usage.input_tokens,
        usage.output_tokens,
    )
