"""Fields and headers drop-in clients send, carried by the gateway: Anthropic's
`anthropic-beta` header with a beta body field (structured outputs), OpenAI's
`stream_options`, `parallel_tool_calls` and json_schema `response_format`."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from openai.types.chat import ChatCompletionToolParam
from openai.types.shared_params import ResponseFormatJSONSchema

from tests.conftest import RunningGateway, mock_stats
from tests.e2e.clients.support import KEYS, MODEL, ledger_matches, running_gateway
from tests.e2e.openai_support import client
from tests.e2e.vendor_support import anthropic_client

BETA = "structured-outputs-2025-11-13"
SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    yield from running_gateway(tmp_path_factory.mktemp("gaps"))


@pytest.mark.compat("anthropic", "anthropic-beta passthrough (structured outputs)")
def test_an_anthropic_beta_header_and_field_reach_the_provider(gateway: RunningGateway) -> None:
    with anthropic_client(gateway, api_key=KEYS["anthropic"]) as sdk:
        message = sdk.messages.create(
            model=MODEL, max_tokens=32, messages=[{"role": "user", "content": "hi"}],
            extra_headers={"anthropic-beta": BETA},
            extra_body={"output_format": {"type": "json_schema", "schema": SCHEMA}},
        )  # fmt: skip
    assert mock_stats(gateway)["last_headers"]["anthropic-beta"] == BETA
    [block] = message.content
    assert block.type == "text" and orjson.loads(block.text) == {"city": "mock"}
    ledger_matches(gateway, message.usage.input_tokens, message.usage.output_tokens)


@pytest.mark.compat("openai", "stream_options, parallel_tool_calls, json_schema")
def test_openai_stream_options_parallel_tool_calls_and_json_schema_are_carried(
    gateway: RunningGateway,
) -> None:
    fmt: ResponseFormatJSONSchema = {
        "type": "json_schema",
        "json_schema": {"name": "c", "schema": SCHEMA, "strict": True},
    }
    tools: list[ChatCompletionToolParam] = [
        {"type": "function", "function": {"name": "f", "parameters": SCHEMA}}
    ]
    with client(gateway, KEYS["openai"]) as sdk:
        chunks = list(
            sdk.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True,
                stream_options={"include_usage": True}, parallel_tool_calls=False,
                response_format=fmt, tools=tools,
            )
        )  # fmt: skip
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert orjson.loads(text) == {"city": "mock"}
    [usage] = [c.usage for c in chunks if c.usage]
    ledger_matches(gateway, usage.prompt_tokens, usage.completion_tokens)
