"""`POST /v1/mcp/tool/execute`: run one MCP tool call for the caller's key.

The body is a chat tool call, `{"id", "type": "function", "function": {"name":
"client-tool", "arguments": "<JSON>"}}`; the answer is the tool message to append,
`{"role": "tool", "tool_call_id", "content"}` (a tool's own error is flagged by the
`x-govledger-mcp-tool-error: true` header). Errors are in OpenAI's shape.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from govledger.proxy.flow.gateway import Call
from govledger.proxy.mcp.service import McpTools, ToolCall
from govledger.proxy.surfaces.bodies import read_object
from govledger.proxy.surfaces.errors import GatewayError, JSONBytes, openai_error

SURFACE = "mcp_tool_execute"


def _bad(message: str, param: str) -> GatewayError:
    return GatewayError(400, "invalid_tool_call", message, param=param, level="request")


def parse_tool_call(body: dict[str, Any]) -> tuple[str, dict[str, Any], int]:
    """(function name, arguments, argument bytes) of a tool call body; GatewayError 400."""
    function = body.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise _bad("`function.name` is required (a string)", "function.name")
    raw = function.get("arguments")
    if raw is None or raw == "":
        raw = "{}"
    text = raw if isinstance(raw, str) else orjson.dumps(raw).decode()
    try:
        arguments = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise _bad("`function.arguments` is not valid JSON", "function.arguments") from None
    if not isinstance(arguments, dict):
        raise _bad("`function.arguments` must be a JSON object", "function.arguments")
    return function["name"], arguments, len(text.encode())


class McpSurface:
    """The tool execution endpoint."""

    def __init__(self, tools: McpTools) -> None:
        self.tools = tools
        self.gateway = tools.gateway

    def routes(self) -> list[Route]:
        """The routes this surface serves."""
        return [Route("/v1/mcp/tool/execute", self.execute, methods=["POST"])]

    async def execute(self, request: Request) -> Response:
        """Authenticate, check the tool is in the key's set, run it, answer the tool message."""
        request_id = uuid.uuid4().hex
        key_id: str | None = None
        call = ToolCall(request_id, "", {}, 0, request.headers)
        await self.gateway.prepare_subjects(request.headers)
        try:
            body = await read_object(request, self.gateway.max_body_bytes)
            function, arguments, size = parse_tool_call(body)
            call = ToolCall(request_id, function, arguments, size, request.headers)
            auth = Call(SURFACE, "", body, False, request.headers, request_id=request_id)
            policy = self.gateway.authenticate(auth)
            key_id = policy.key_id
            self.gateway.check_key(policy)
        except GatewayError as error:
            self.tools.refused(call, key_id, error)
            return openai_error(error, request_id)
        try:
            result = await self.tools.execute(policy, call)
        except GatewayError as error:
            return openai_error(error, request_id)
        headers = {"x-govledger-request-id": request_id}
        if result.is_error:
            headers["x-govledger-mcp-tool-error"] = "true"
        message = {"role": "tool", "tool_call_id": body.get("id"), "content": result.text}
        return JSONBytes(message, headers=headers)
