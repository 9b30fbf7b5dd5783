"""llama-index's OpenAI LLM against the gateway: chat, stream, tool calls, structured
prediction, usage equal to the ledger, a spent budget as the SDK's error, fallback."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from llama_index.core.llms import ChatMessage
from llama_index.core.tools import FunctionTool
from llama_index.llms.openai import OpenAI
from pydantic import BaseModel

from tests.conftest import RunningGateway
from tests.e2e.clients.support import (
    FALLBACK,
    KEYS,
    KNOWN_MODEL,
    POOR,
    ledger_matches,
    running_gateway,
    served_by_fallback,
)
from tests.e2e.openai_support import HELLO, HELLO_WORDS

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
DIST = "llama-index-llms-openai"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    yield from running_gateway(tmp_path_factory.mktemp("llama"))


def llm(gateway: RunningGateway, key: str = KEYS["openai"]) -> OpenAI:
    """llama-index's OpenAI LLM on the gateway, without retries."""
    return OpenAI(model=KNOWN_MODEL, api_base=gateway.url + "/v1", api_key=key, max_retries=0)


def usage(raw: object) -> tuple[int, int]:
    """(prompt, completion) tokens of a raw ChatCompletion."""
    figures = getattr(raw, "usage", None) or (raw or {}).get("usage")  # type: ignore[attr-defined]
    return figures.prompt_tokens, figures.completion_tokens


@pytest.mark.compat(DIST, "chat")
def test_chat_answers_and_its_usage_is_the_ledgers(gateway: RunningGateway) -> None:
    response = llm(gateway).chat([ChatMessage(role="user", content="hi")])
    assert response.message.content == HELLO
    assert usage(response.raw) == (1, HELLO_WORDS)
    ledger_matches(gateway, 1, HELLO_WORDS)


@pytest.mark.compat(DIST, "stream")
def test_stream_chat_yields_deltas_and_the_ledger_has_the_figures(
    gateway: RunningGateway,
) -> None:
    pieces = list(llm(gateway).stream_chat([ChatMessage(role="user", content="echo: a b c")]))
    assert len(pieces) > 1
    assert pieces[-1].message.content == "a b c"
    ledger_matches(gateway, -(-len(b"echo: a b c") // 4), 3)


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@pytest.mark.compat(DIST, "tool calls")
def test_a_tool_is_called_and_its_result_answered(gateway: RunningGateway) -> None:
    model = llm(gateway)
    tool = FunctionTool.from_defaults(fn=add)
    response = model.chat_with_tools([tool], user_msg='tool: add {"a": 2, "b": 3}')
    [call] = model.get_tool_calls_from_response(response, error_on_no_tool_call=True)
    assert (call.tool_name, call.tool_kwargs) == ("add", {"a": 2, "b": 3})
    answer = model.predict_and_call([tool], user_msg='tool: add {"a": 2, "b": 3}')
    assert str(answer) == "5"


class City(BaseModel):
    """A city and its population."""

    name: str
    population: int


@pytest.mark.compat(DIST, "structured output")
def test_structured_predict_parses_into_the_schema(gateway: RunningGateway) -> None:
    from llama_index.core.prompts import PromptTemplate

    city = llm(gateway).structured_predict(City, PromptTemplate("Name a city."))
    assert city == City(name="mock", population=1)


@pytest.mark.compat(DIST, "budget refusal")
def test_a_spent_budget_raises_openais_402_error(gateway: RunningGateway) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        llm(gateway, POOR).chat([ChatMessage(role="user", content="hi")])
    assert caught.value.status_code == 402
    assert caught.value.code == "budget_exceeded"


@pytest.mark.compat(DIST, "cross-provider fallback")
def test_an_anthropic_route_answers_when_the_openai_one_is_down(gateway: RunningGateway) -> None:
    response = llm(gateway, FALLBACK["openai"]).chat([ChatMessage(role="user", content="hi")])
    assert response.message.content == HELLO
    settled = served_by_fallback(gateway, "openai")
    assert (settled.tokens["input"], settled.tokens["output"]) == usage(response.raw)
