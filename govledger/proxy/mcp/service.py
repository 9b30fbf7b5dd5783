"""MCP use cases for a key: offer its tools on a request, run one of them, record both."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from govledger.ledger import events as ev
from govledger.projections.policy import KeyPolicy
from govledger.proxy.flow.gateway import Call, Gateway
from govledger.proxy.mcp.allow import (
    Narrowing,
    function_name,
    may_use_client,
    permitted,
    split_function,
)
from govledger.proxy.mcp.offer import OFFER_SURFACES, OfferedTool, with_tools
from govledger.proxy.mcp.registry import McpRegistry, McpServer, McpUnavailableError, ToolResult
from govledger.proxy.surfaces.errors import GatewayError


@dataclass(frozen=True)
class ToolCall:
    """One tool call a key asks the gateway to run."""

    request_id: str
    function: str  # `client-tool`
    arguments: dict[str, Any]
    argument_bytes: int
    headers: Mapping[str, str]

    @property
    def client(self) -> str:
        """The MCP client named by the function ("" if the name has no client part)."""
        parts = split_function(self.function)
        return parts[0] if parts else ""

    @property
    def tool(self) -> str:
        """The tool named by the function."""
        parts = split_function(self.function)
        return parts[1] if parts else self.function


class McpTools:
    """The gateway's MCP side: configured servers from the settings, filtered per key."""

    def __init__(self, gateway: Gateway, registry: McpRegistry) -> None:
        self.gateway = gateway
        self.registry = registry

    def servers(self) -> dict[str, McpServer]:
        """Configured MCP clients by name."""
        settings = self.gateway.governance.state.settings()
        return {c["name"]: McpServer.of(c) for c in settings.get("mcp_clients", [])}

    async def offered(self, policy: KeyPolicy, headers: Mapping[str, str]) -> list[OfferedTool]:
        """The tools in the request's effective set, under their function names."""
        if not policy.mcp_configs:
            return []
        narrowing = Narrowing.of(headers)
        servers = [
            s
            for s in self.servers().values()
            if may_use_client(policy.mcp_configs, narrowing, s.name)
        ]
        found = await asyncio.gather(*(self.registry.tools(s) for s in servers))
        offered = []
        for server, tools in zip(servers, found, strict=True):
            for tool in tools:
                name = function_name(server.name, tool.name)
                if name and permitted(policy.mcp_configs, narrowing, server.name, tool.name):
                    offered.append(OfferedTool(name, tool.description, tool.input_schema))
        return offered

    async def offer(self, call: Call, policy: KeyPolicy) -> dict[str, Any]:
        """The request body with the key's tools added as functions."""
        if call.surface not in OFFER_SURFACES:
            return call.body
        return with_tools(call.surface, call.body, await self.offered(policy, call.headers))

    async def execute(self, policy: KeyPolicy, call: ToolCall) -> ToolResult:
        """Run a tool for the key; GatewayError 403 `mcp_tool_blocked` outside its set."""
        server = self.servers().get(call.client)
        narrowing = Narrowing.of(call.headers)
        if server is None or not permitted(policy.mcp_configs, narrowing, call.client, call.tool):
            error = GatewayError(
                403,
                "mcp_tool_blocked",
                f"tool {call.function!r} is not in the MCP tools this key may use",
                param="function.name",
                level="virtual_key",
            )
            self.refused(call, policy.key_id, error)
            raise error
        started = self.gateway.clock.monotonic()
        try:
            result = await self.registry.call(server, call.tool, call.arguments)
        except McpUnavailableError as failure:
            await self._executed(call, policy.key_id, "failed", str(failure), started)
            raise GatewayError(
                502,
                "mcp_unavailable",
                f"MCP client {call.client!r} did not answer",
                level="upstream",
            ) from None
        status = "tool_error" if result.is_error else "ok"
        await self._executed(call, policy.key_id, status, "", started)
        return result

    async def _executed(
        self, call: ToolCall, key_id: str, status: str, reason: str, started: float
    ) -> None:
        """Record an execution and await its commit (durable before the answer)."""
        event = ev.McpToolExecuted(
            originator_id=uuid.UUID(call.request_id),
            originator_version=1,
            timestamp=self.gateway.clock.now(),
            request_id=call.request_id,
            key_id=key_id,
            client=call.client,
            tool=call.tool,
            status=status,
            reason=reason,
            argument_bytes=call.argument_bytes,
            duration_ms=round((self.gateway.clock.monotonic() - started) * 1000, 3),
            headers=self._recorded(call.headers),
        )
        await self.gateway.usage.writer.append("usage", [event])

    def refused(self, call: ToolCall, key_id: str | None, error: GatewayError) -> None:
        """Record a refused tool call (queued, not awaited: it holds nothing)."""
        event = ev.McpToolRefused(
            originator_id=uuid.UUID(call.request_id),
            originator_version=1,
            timestamp=self.gateway.clock.now(),
            request_id=call.request_id,
            key_id=key_id,
            client=call.client,
            tool=call.tool,
            code=error.code,
            message=error.message,
            headers=self._recorded(call.headers),
        )
        self.gateway.usage.writer.submit("usage", [event], _ignore, linger=True)

    def _recorded(self, headers: Mapping[str, str]) -> dict[str, str]:
        return self.gateway.recorded(headers)


def _ignore(_error: BaseException | None, _ids: Any) -> None:
    return None
