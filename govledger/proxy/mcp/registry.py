"""MCP servers over streamable HTTP (the `mcp` SDK): tool discovery, cached, and calls.

A session is opened per operation: discovery is cached (`ttl_s`), and a server that cannot
be reached offers no tools until `retry_s` has passed. Header values are `env.NAME`
references, resolved when a session opens.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import orjson

if TYPE_CHECKING:
    from mcp import Client

log = logging.getLogger("govledger.mcp")


@dataclass(frozen=True)
class McpServer:
    """One configured MCP client: its name, URL and header references."""

    name: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> McpServer:
        """From the gateway settings' `mcp_clients` entry."""
        headers = tuple(sorted((data.get("headers") or {}).items()))
        return cls(str(data["name"]), str(data["url"]), headers)


@dataclass(frozen=True)
class Tool:
    """A tool as its server lists it."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class ToolResult:
    """What a tool answered, as text (structured or non-text content as JSON)."""

    is_error: bool
    text: str


class McpUnavailableError(Exception):
    """The MCP server could not be reached or did not answer in time."""


class McpRegistry:
    """Discovers and calls tools; one instance per gateway."""

    def __init__(
        self,
        timeout_s: float = 10.0,
        ttl_s: float = 300.0,
        retry_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout_s = timeout_s
        self.ttl_s = ttl_s
        self.retry_s = retry_s
        self.clock = clock
        self._cache: dict[McpServer, tuple[float, list[Tool]]] = {}
        self._locks: dict[McpServer, asyncio.Lock] = {}

    async def tools(self, server: McpServer) -> list[Tool]:
        """The server's tools (cached); none while it cannot be reached."""
        cached = self._cache.get(server)
        if cached is not None and cached[0] > self.clock():
            return cached[1]
        async with self._locks.setdefault(server, asyncio.Lock()):
            cached = self._cache.get(server)
            if cached is not None and cached[0] > self.clock():
                return cached[1]
            try:
                tools = await self._list(server)
            except McpUnavailableError as error:
                log.warning("MCP client %r offers no tools for now: %s", server.name, error)
                self._cache[server] = (self.clock() + self.retry_s, [])
                return []
            self._cache[server] = (self.clock() + self.ttl_s, tools)
            return tools

    async def call(self, server: McpServer, tool: str, arguments: dict[str, Any]) -> ToolResult:
        """Run a tool; McpUnavailableError if the server does not answer."""
        async with self._session(server) as session:
            result = await session.call_tool(tool, arguments)
        parts = []
        for block in result.content:
            text = getattr(block, "text", None)
            if isinstance(text, str):
                parts.append(text)
            else:
                parts.append(
                    orjson.dumps(block.model_dump(mode="json", exclude_none=True)).decode()
                )
        if not parts and result.structured_content is not None:
            parts.append(orjson.dumps(result.structured_content).decode())
        return ToolResult(bool(result.is_error), "\n".join(parts))

    async def _list(self, server: McpServer) -> list[Tool]:
        tools: list[Tool] = []
        async with self._session(server) as session:
            cursor: str | None = None
            while True:
                page = await session.list_tools(cursor=cursor)
                tools += [
                    Tool(t.name, t.description or "", dict(t.input_schema)) for t in page.tools
                ]
                cursor = page.next_cursor
                if not cursor:
                    return tools

    @asynccontextmanager
    async def _session(self, server: McpServer) -> AsyncIterator[Client]:
        headers = {}
        for name, reference in server.headers:
            value = os.environ.get(reference.removeprefix("env."))
            if value is None:
                raise McpUnavailableError(f"header {name!r}: {reference} is not set")
            headers[name] = value
        # The SDK (and its HTTP client) loads on the first session: a gateway whose keys use no
        # MCP server never imports it (tens of modules and several MiB in every server).
        import httpx2
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        try:
            with anyio.fail_after(self.timeout_s):
                async with (
                    httpx2.AsyncClient(headers=headers, timeout=self.timeout_s) as http,
                    Client(streamable_http_client(server.url, http_client=http)) as session,
                ):
                    yield session
        except McpUnavailableError:
            raise
        except Exception as error:  # the SDK raises many kinds; each means no answer
            raise McpUnavailableError(f"{type(error).__name__}: {error}") from None
