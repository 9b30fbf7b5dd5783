"""MCP tool filtering against real MCP servers (the `mcp` SDK's MCPServer, formerly FastMCP,
over streamable HTTP): the allow-list matrix on offered tools and on execution, header
narrowing, and an event for every execution and refusal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from aiohttp import web
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from govledger.ledger import events as ev
from tests.conftest import RunningGateway, start_gateway
from tests.e2e.openai_support import (
    chat_body,
    flush_ledger,
    of_type,
    raw_request,
    serve,
    virtual_key,
)
from tests.e2e.vendor_support import anthropic_client, priced_config, serve_asgi, vendor

ALL, READ, NONE, UNLISTED = (f"sk-bf-e2e-mcp-{name}-0001" for name in ("all", "read", "none", "x"))
FILES = {"files-read", "files-write", "files-broken"}
WEB = {"web-fetch", "web-search"}


def files_server() -> MCPServer:
    """An MCP server with file tools, one of which always fails."""
    server = MCPServer("files")

    @server.tool()
    def read(path: str) -> str:
        """Read a file."""
        return f"contents of {path}"

    @server.tool()
    def write(path: str, text: str) -> str:
        """Write a file."""
        return f"wrote {len(text)} bytes to {path}"

    @server.tool()
    def broken() -> str:
        """A tool that fails."""
        raise ToolError("disk on fire")

    return server


def web_server() -> MCPServer:
    """An MCP server with web tools."""
    server = MCPServer("web")

    @server.tool()
    def fetch(url: str) -> str:
        """Fetch a page."""
        return f"page at {url}"

    @server.tool()
    def search(query: str) -> str:
        """Search the web."""
        return f"results for {query}"

    return server


def capturing_upstream(seen: list[dict[str, Any]]) -> web.Application:
    """An OpenAI upstream that records each request body and answers a fixed completion."""

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append(body)
        usage = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
        message = {"role": "assistant", "content": "ok"}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        reply = {"id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                 "choices": [choice], "usage": usage}  # fmt: skip
        return web.json_response(reply)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


@pytest.fixture(scope="module")
def seen() -> list[dict[str, Any]]:
    """Bodies the capturing upstream received."""
    return []


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, seen: list[dict[str, Any]]
) -> Iterator[RunningGateway]:
    """A gateway with two MCP clients and keys of every allow-list kind."""
    tmp = tmp_path_factory.mktemp("mcp")
    apps = [s.streamable_http_app(stateless_http=True, json_response=True) for s in
            (files_server(), web_server())]  # fmt: skip
    with (
        serve_asgi(apps[0]) as files,
        serve_asgi(apps[1]) as web_url,
        serve(capturing_upstream(seen)) as upstream,
    ):
        keys = [
            virtual_key("all", ALL, providers=("up",), mcp_configs=[
                {"mcp_client_name": "files", "tools_to_execute": ["*"]},
                {"mcp_client_name": "web", "tools_to_execute": ["*"]}]),
            virtual_key("read", READ, providers=("up",), mcp_configs=[
                {"mcp_client_name": "files", "tools_to_execute": ["read"]}]),
            virtual_key("none", NONE, providers=("up",), mcp_configs=[
                {"mcp_client_name": "files", "tools_to_execute": []}]),
            virtual_key("unlisted", UNLISTED, providers=("up",)),
        ]  # fmt: skip
        clients = [
            {"name": "files", "url": files + "/mcp"},
            {"name": "web", "url": web_url + "/mcp"},
        ]
        config = priced_config(
            keys,
            [vendor("up", "openai", upstream + "/v1")],
            mcp_clients=clients,
            record_headers=["x-tenant"],
        )
        running = start_gateway(f"sqlite:///{tmp}/ledger.sqlite", config, tmp)
        yield running
        running.stop()


def offered(
    gateway: RunningGateway, seen: list[dict[str, Any]], key: str, headers: dict[str, str]
) -> set[str]:
    """The function names the upstream was offered on one chat request."""
    auth = {"authorization": f"Bearer {key}", "content-type": "application/json", **headers}
    response = raw_request(gateway, "/v1/chat/completions", chat_body(), auth)
    assert response.status == 200, response.body
    return {tool["function"]["name"] for tool in seen[-1].get("tools", [])}


CLIENTS = "x-bf-mcp-include-clients"
TOOLS = "x-bf-mcp-include-tools"


@pytest.mark.parametrize(
    ("key", "headers", "expected"),
    [
        (ALL, {}, FILES | WEB),
        (ALL, {CLIENTS: "files"}, FILES),
        (ALL, {TOOLS: "files-read, web-*"}, {"files-read"} | WEB),
        (ALL, {CLIENTS: "web", TOOLS: "files-read"}, set()),
        (ALL, {CLIENTS: "files,web", TOOLS: "web-search,files-write"},
         {"web-search", "files-write"}),
        (ALL, {CLIENTS: ""}, set()),
        (ALL, {TOOLS: ""}, set()),
        (READ, {}, {"files-read"}),
        (READ, {TOOLS: "files-*"}, {"files-read"}),
        (READ, {CLIENTS: "web"}, set()),
        (NONE, {}, set()),
        (UNLISTED, {}, set()),
    ],
    ids=["all", "one client", "tools header", "disjoint headers", "both headers",
         "empty clients header", "empty tools header", "named tool", "named tool and wildcard",
         "unlisted client asked for", "empty list", "no mcp_configs"],
)  # fmt: skip
def test_the_offered_tools_are_the_key_allow_list_narrowed_by_the_headers(
    gateway: RunningGateway,
    seen: list[dict[str, Any]],
    key: str,
    headers: dict[str, str],
    expected: set[str],
) -> None:
    assert offered(gateway, seen, key, headers) == expected


def test_offered_tools_carry_the_servers_description_and_schema_and_a_clients_own_tool_wins(
    gateway: RunningGateway, seen: list[dict[str, Any]]
) -> None:
    own = {"type": "function", "function": {"name": "files-read", "parameters": {}}}
    auth = {"authorization": f"Bearer {READ}", "content-type": "application/json"}
    raw_request(gateway, "/v1/chat/completions", chat_body(tools=[own]), auth)
    assert seen[-1]["tools"] == [own]
    offered(gateway, seen, READ, {})
    [tool] = seen[-1]["tools"]
    assert tool["function"]["description"] == "Read a file."
    assert tool["function"]["parameters"]["properties"]["path"]["type"] == "string"


def test_an_anthropic_client_is_offered_the_tools_in_its_own_format(
    gateway: RunningGateway, seen: list[dict[str, Any]]
) -> None:
    with anthropic_client(gateway, api_key=READ) as sdk:
        sdk.messages.create(model="m1", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert [t["function"]["name"] for t in seen[-1]["tools"]] == ["files-read"]


# --- execution -----------------------------------------------------------------------------


def execute(
    gateway: RunningGateway, key: str | None, function: str, arguments: Any, **headers: str
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """POST a tool call to /v1/mcp/tool/execute; (status, body, headers)."""
    encoded = orjson.dumps(arguments).decode()
    call = {"id": "call_1", "type": "function",
            "function": {"name": function, "arguments": encoded}}  # fmt: skip
    sent = {"content-type": "application/json", **headers}
    if key:
        sent["authorization"] = f"Bearer {key}"
    response = raw_request(gateway, "/v1/mcp/tool/execute", orjson.dumps(call), sent)
    return response.status, response.json(), response.headers


@pytest.mark.parametrize(
    ("key", "function", "headers"),
    [
        (READ, "files-write", {}),
        (READ, "web-fetch", {}),
        (NONE, "files-read", {}),
        (UNLISTED, "files-read", {}),
        (ALL, "nowhere-read", {}),
        (ALL, "files-read", {CLIENTS: "web"}),
        (ALL, "files-read", {TOOLS: ""}),
    ],
    ids=["tool not listed", "client not listed", "empty list", "no mcp_configs",
         "unknown client", "client left out by header", "empty tools header"],
)  # fmt: skip
def test_a_tool_outside_the_effective_set_is_refused_with_403_and_an_event(
    gateway: RunningGateway, key: str, function: str, headers: dict[str, str]
) -> None:
    status, body, answer = execute(gateway, key, function, {"path": "a"}, **headers)
    assert status == 403
    assert body["error"]["code"] == "mcp_tool_blocked"
    flush_ledger(gateway)
    request_id = answer["x-govledger-request-id"]
    [event] = [e for e in of_type(gateway, ev.McpToolRefused) if e.request_id == request_id]
    assert (event.code, f"{event.client}-{event.tool}") == ("mcp_tool_blocked", function)
    assert event.key_id is not None


def test_an_allowed_tool_runs_and_its_execution_is_recorded_without_its_arguments(
    gateway: RunningGateway,
) -> None:
    status, body, headers = execute(
        gateway, READ, "files-read", {"path": "notes.txt"}, **{"x-tenant": "acme"}
    )
    assert status == 200
    assert body == {"role": "tool", "tool_call_id": "call_1", "content": "contents of notes.txt"}
    assert "x-govledger-mcp-tool-error" not in headers
    request_id = headers["x-govledger-request-id"]
    [event] = [e for e in of_type(gateway, ev.McpToolExecuted) if e.request_id == request_id]
    assert (event.key_id, event.client, event.tool, event.status) == ("read", "files", "read", "ok")
    assert event.argument_bytes == len(b'{"path":"notes.txt"}')
    assert event.headers == {"x-tenant": "acme"}
    assert "notes.txt" not in repr(event)


def test_a_tool_that_fails_answers_its_error_as_content_and_is_recorded_as_tool_error(
    gateway: RunningGateway,
) -> None:
    status, body, headers = execute(gateway, ALL, "files-broken", {})
    assert status == 200
    assert "disk on fire" in body["content"]
    assert headers["x-govledger-mcp-tool-error"] == "true"
    request_id = headers["x-govledger-request-id"]
    [event] = [e for e in of_type(gateway, ev.McpToolExecuted) if e.request_id == request_id]
    assert event.status == "tool_error"


def test_execution_without_a_key_or_with_bad_arguments_is_refused_and_recorded(
    gateway: RunningGateway,
) -> None:
    status, body, headers = execute(gateway, None, "files-read", {"path": "a"})
    assert (status, body["error"]["code"]) == (401, "virtual_key_required")
    status, body, _ = execute(gateway, ALL, "files-read", ["not", "an", "object"])
    assert (status, body["error"]["code"]) == (400, "invalid_tool_call")
    flush_ledger(gateway)
    refusals = {e.request_id: e for e in of_type(gateway, ev.McpToolRefused)}
    refusal = refusals[headers["x-govledger-request-id"]]
    assert (refusal.code, refusal.key_id, refusal.tool) == ("virtual_key_required", None, "read")


def test_an_unreachable_mcp_server_offers_nothing_and_answers_502_on_execution(
    tmp_path_factory: pytest.TempPathFactory, seen: list[dict[str, Any]]
) -> None:
    tmp = tmp_path_factory.mktemp("mcp-down")
    with serve(capturing_upstream(seen)) as upstream:
        allow = [{"mcp_client_name": "gone", "tools_to_execute": ["*"]}]
        key = virtual_key("all", ALL, providers=("up",), mcp_configs=allow)
        config = priced_config(
            [key],
            [vendor("up", "openai", upstream + "/v1")],
            mcp_clients=[{"name": "gone", "url": "http://127.0.0.1:9/mcp"}],
        )
        gateway = start_gateway(f"sqlite:///{tmp}/ledger.sqlite", config, tmp)
        try:
            assert offered(gateway, seen, ALL, {}) == set()
            status, body, headers = execute(gateway, ALL, "gone-read", {})
            assert (status, body["error"]["code"]) == (502, "mcp_unavailable")
            request_id = headers["x-govledger-request-id"]
            [event] = [
                e for e in of_type(gateway, ev.McpToolExecuted) if e.request_id == request_id
            ]
            assert event.status == "failed" and event.reason
        finally:
            gateway.stop()
