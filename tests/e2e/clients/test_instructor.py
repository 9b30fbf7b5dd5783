"""instructor on the gateway: structured output by tool call and by json_schema response
format, a validation retry (two requests, both in the ledger), streaming partials, a spent
budget as openai's 402 error, and fallback to an Anthropic route."""

from __future__ import annotations

from collections.abc import Iterator

import instructor
import openai
import pytest
from instructor.core import InstructorRetryException
from openai.types.chat import ChatCompletionMessageParam
from pydantic import BaseModel, field_validator

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
from tests.e2e.openai_support import client

DIST = "instructor"
PROMPT: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Name a city."}]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    yield from running_gateway(tmp_path_factory.mktemp("instructor"))


class City(BaseModel):
    """A city and its population."""

    name: str
    population: int


def patched(
    gateway: RunningGateway,
    key: str = KEYS["openai"],
    mode: instructor.Mode = instructor.Mode.TOOLS,
) -> instructor.Instructor:
    """An instructor client over the openai SDK on the gateway."""
    return instructor.from_openai(client(gateway, key), mode=mode)


@pytest.mark.compat(DIST, "structured output (tools)")
def test_tool_mode_parses_and_its_usage_is_the_ledgers(gateway: RunningGateway) -> None:
    city, completion = patched(gateway).chat.completions.create_with_completion(
        model=MODEL, response_model=City, messages=PROMPT
    )
    assert city.model_dump() == {"name": "mock", "population": 1}
    usage = completion.usage
    assert usage is not None
    ledger_matches(gateway, usage.prompt_tokens, usage.completion_tokens)


@pytest.mark.compat(DIST, "structured output (json_schema)")
def test_json_schema_mode_parses(gateway: RunningGateway) -> None:
    city, completion = patched(
        gateway, mode=instructor.Mode.JSON_SCHEMA
    ).chat.completions.create_with_completion(model=MODEL, response_model=City, messages=PROMPT)
    assert city.model_dump() == {"name": "mock", "population": 1}
    assert completion.usage is not None
    ledger_matches(gateway, completion.usage.prompt_tokens, completion.usage.completion_tokens)


@pytest.mark.compat(DIST, "validation retries")
def test_a_failed_validation_is_retried_and_each_attempt_is_in_the_ledger(
    gateway: RunningGateway,
) -> None:
    attempts: list[str] = []

    class Checked(BaseModel):
        """A city whose first answer is refused by its validator."""

        name: str

        @field_validator("name")
        @classmethod
        def second_time_lucky(cls, value: str) -> str:
            attempts.append(value)
            if len(attempts) == 1:
                raise ValueError("try again")
            return value

    before = settled_count(gateway)
    checked = patched(gateway).chat.completions.create(
        model=MODEL, response_model=Checked, messages=PROMPT, max_retries=2
    )
    assert checked.name == "mock"
    assert attempts == ["mock", "mock"]
    assert settled_count(gateway) == before + 2


@pytest.mark.compat(DIST, "stream (partial)")
def test_streamed_partials_end_in_the_whole_object(gateway: RunningGateway) -> None:
    partials = list(
        patched(gateway).chat.completions.create_partial(
            model=MODEL, response_model=City, messages=PROMPT
        )
    )
    assert partials
    assert partials[-1].model_dump() == {"name": "mock", "population": 1}


@pytest.mark.compat(DIST, "budget refusal")
def test_a_spent_budget_raises_openais_402_error(gateway: RunningGateway) -> None:
    with pytest.raises(InstructorRetryException) as caught:
        patched(gateway, POOR).chat.completions.create(
            model=MODEL, response_model=City, messages=PROMPT, max_retries=1
        )
    cause = caught.value.__cause__
    assert isinstance(cause, openai.APIStatusError), repr(caught.value)
    assert (cause.status_code, cause.code) == (402, "budget_exceeded")


@pytest.mark.compat(DIST, "cross-provider fallback")
def test_an_anthropic_route_answers_when_the_openai_one_is_down(gateway: RunningGateway) -> None:
    city = patched(gateway, FALLBACK["openai"]).chat.completions.create(
        model=MODEL, response_model=City, messages=PROMPT
    )
    assert city.model_dump() == {"name": "mock", "population": 1}
    served_by_fallback(gateway, "openai")
