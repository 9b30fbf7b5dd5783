"""LangChain's OpenAI, Anthropic and Google chat models against the gateway: invoke, stream,
tool calls, structured output, usage equal to the ledger, a spent budget as the vendor SDK's
error, and a route of another vendor answering when the first is down."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest
from google.genai import errors as genai_errors
from langchain_anthropic import ChatAnthropic
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_google_genai import ChatGoogleGenerativeAI
from langchain_google_genai.chat_models import ChatGoogleGenerativeAIError
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, SecretStr

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

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

SURFACES = ("openai", "anthropic", "gemini")
DIST = {
    "openai": "langchain-openai",
    "anthropic": "langchain-anthropic",
    "gemini": "langchain-google-genai",
}
# What each client raises for the gateway's 402 budget refusal: the vendor SDK's own error
# (langchain-google-genai wraps google-genai's ClientError in its own error).
BUDGET_ERROR: dict[str, type[Exception]] = {
    "openai": openai.APIStatusError,
    "anthropic": anthropic.APIStatusError,
    "gemini": ChatGoogleGenerativeAIError,
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    yield from running_gateway(tmp_path_factory.mktemp("langchain"))


def model(gateway: RunningGateway, surface: str, key: str | None = None) -> BaseChatModel:
    """The surface's LangChain chat model on the gateway, without retries."""
    key = key or KEYS[surface]
    if surface == "openai":
        return ChatOpenAI(
            model=MODEL, base_url=gateway.url + "/v1", api_key=SecretStr(key), max_retries=0,
            stream_usage=True,
        )  # fmt: skip
    if surface == "anthropic":
        return ChatAnthropic(
            model_name=MODEL, base_url=gateway.url + "/anthropic", api_key=SecretStr(key),
            max_retries=0, max_tokens_to_sample=64, timeout=30, stop=None,
        )  # fmt: skip
    return ChatGoogleGenerativeAI(
        model=MODEL, google_api_key=key, base_url=gateway.url + "/genai", retries=0,
    )  # fmt: skip


def usage_of(message: AIMessage) -> tuple[int, int]:
    """(input, output) tokens LangChain reports for a message."""
    usage = message.usage_metadata
    assert usage is not None, message
    return usage["input_tokens"], usage["output_tokens"]


def compat(surface: str, feature: str) -> Any:
    """The compatibility record of a surface's client and a feature."""
    return pytest.mark.compat(DIST[surface], feature)


def each(feature: str) -> Callable[[Callable[..., None]], Any]:
    """Parametrize a test over the three surfaces, each recorded for its client."""
    params = [pytest.param(s, id=s, marks=compat(s, feature)) for s in SURFACES]
    return pytest.mark.parametrize("surface", params)


@each("invoke")
def test_invoke_answers_and_its_usage_is_the_ledgers(gateway: RunningGateway, surface: str) -> None:
    answer = model(gateway, surface).invoke([HumanMessage("hi")])
    assert isinstance(answer, AIMessage)
    assert answer.text == HELLO
    assert usage_of(answer) == (1, HELLO_WORDS)
    ledger_matches(gateway, 1, HELLO_WORDS)


@each("stream")
def test_stream_yields_the_text_in_pieces_and_its_usage_is_the_ledgers(
    gateway: RunningGateway, surface: str
) -> None:
    chunks = list(model(gateway, surface).stream([HumanMessage("echo: one two three")]))
    assert len(chunks) > 1
    total: AIMessageChunk = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert total.text == "one two three"
    in_tokens = -(-len(b"echo: one two three") // 4)
    assert usage_of(total) == (in_tokens, 3)
    ledger_matches(gateway, in_tokens, 3)


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@each("tool calls")
def test_a_tool_call_comes_back_and_its_result_is_answered(
    gateway: RunningGateway, surface: str
) -> None:
    llm = model(gateway, surface).bind_tools([add])
    prompt = HumanMessage('tool: add {"a": 2, "b": 3}')
    first = llm.invoke([prompt])
    assert isinstance(first, AIMessage)
    [call] = first.tool_calls
    assert (call["name"], call["args"]) == ("add", {"a": 2, "b": 3})
    result = ToolMessage(str(add.invoke(call["args"])), tool_call_id=call["id"] or "")
    second = llm.invoke([prompt, first, result])
    # Gemini carries a tool result as a functionResponse object: {"output": 5}
    assert second.text == ('Tool said: {"output":5}' if surface == "gemini" else "Tool said: 5")
    ledger_matches(gateway, *usage_of(second))


class City(BaseModel):
    """A city and its population."""

    name: str
    population: int


@each("structured output")
def test_structured_output_parses_into_the_schema(gateway: RunningGateway, surface: str) -> None:
    before = settled_count(gateway)
    city = model(gateway, surface).with_structured_output(City).invoke("Name a city.")
    assert city == City(name="mock", population=1)
    assert settled_count(gateway) == before + 1


@each("budget refusal")
def test_a_spent_budget_raises_the_vendor_sdks_error_with_402(
    gateway: RunningGateway, surface: str
) -> None:
    with pytest.raises(BUDGET_ERROR[surface]) as caught:
        model(gateway, surface, POOR).invoke("hi")
    error: Any = caught.value
    if surface == "gemini":
        assert isinstance(error.__cause__, genai_errors.ClientError)
        error = error.__cause__
    status = getattr(error, "status_code", None) or getattr(error, "code", None)
    assert status == 402
    assert "budget" in str(error).lower()


@each("cross-provider fallback")
def test_a_route_of_another_vendor_answers_when_the_first_is_down(
    gateway: RunningGateway, surface: str
) -> None:
    answer = model(gateway, surface, FALLBACK[surface]).invoke("hi")
    assert isinstance(answer, AIMessage)
    assert answer.text == HELLO
    settled = served_by_fallback(gateway, surface)
    assert (settled.tokens["input"], settled.tokens["output"]) == usage_of(answer)
