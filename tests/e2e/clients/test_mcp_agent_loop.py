"""An Agents-style tool loop through the official openai SDK with the gateway's MCP tools:
the gateway offers the MCP server's tools, the model calls one, the client executes it at
`POST /v1/mcp/tool/execute` and sends the result back, until the model answers in text.
The MCP server is real (the `mcp` SDK's MCPServer over streamable HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from mcp.server.mcpserver import MCPServer
from openai.types.chat import ChatCompletionMessage

from govledger.ledger import events as ev
from tests.conftest import RunningGateway, start_gateway
from tests.e2e.openai_support import client, flush_ledger, of_type, raw_request, virtual_key
from tests.e2e.vendor_support import priced_config, serve_asgi, vendor

KEY = "sk-bf-e2e-dropin-mcp-loop-01"
DIST = "openai"


def files_server() -> MCPServer:
    """An MCP server with one file tool."""
    server = MCPServer("files")

    @server.tool()
    def read(path: str) -> str:
        """Read a file."""
        return f"contents of {path}"

    return server


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    tmp = tmp_path_factory.mktemp("mcp-loop")
    app = files_server().streamable_http_app(stateless_http=True, json_response=True)
    with serve_asgi(app) as files:
        key = virtual_key(
            "agent", KEY, providers=("openai",),
            mcp_configs=[{"mcp_client_name": "files", "tools_to_execute": ["*"]}],
        )  # fmt: skip
        config = priced_config(
            [key],
            [vendor("openai", "openai")],
            mcp_clients=[{"name": "files", "url": files + "/mcp"}],
        )
        running = start_gateway(f"sqlite:///{tmp}/ledger.sqlite", config, tmp)
        yield running
        running.stop()


def execute(gateway: RunningGateway, call: dict[str, Any]) -> dict[str, Any]:
    """Run one tool call at the gateway's MCP endpoint; the tool message it answers."""
    headers = {"content-type": "application/json", "authorization": f"Bearer {KEY}"}
    response = raw_request(gateway, "/v1/mcp/tool/execute", orjson.dumps(call), headers)
    assert response.status == 200, response.body
    message: dict[str, Any] = response.json()
    return message


@pytest.mark.compat(DIST, "agent tool loop with MCP tools")
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_the_loop_calls_the_mcp_tool_and_ends_with_its_result(
    gateway: RunningGateway, stream: bool
) -> None:
    messages: list[Any] = [{"role": "user", "content": 'tool: files-read {"path": "notes.txt"}'}]
    turns = 0
    with client(gateway, KEY) as sdk:
        while turns < 4:
            turns += 1
            message: ChatCompletionMessage
            if stream:
                with sdk.chat.completions.stream(model="m1", messages=messages) as events:
                    message = events.get_final_completion().choices[0].message
            else:
                answer = sdk.chat.completions.create(model="m1", messages=messages)
                message = answer.choices[0].message
            if not message.tool_calls:
                break
            messages.append(message.model_dump(exclude_none=True, exclude={"parsed"}))
            messages += [execute(gateway, call.model_dump()) for call in message.tool_calls]
    assert (turns, message.content) == (2, "Tool said: contents of notes.txt")
    assert messages[1]["tool_calls"][0]["function"]["name"] == "files-read"
    flush_ledger(gateway)
    executed = of_type(gateway, ev.McpToolExecuted)[-1]
    assert (executed.client, executed.tool, executed.status) == ("files", "read", "ok")
