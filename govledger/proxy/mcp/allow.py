"""Which MCP tools a request may use: the key's allow-list, narrowed by request headers.

Pure functions. A key's `mcp_configs` lists clients: `["*"]` is every tool of that client,
`[]` none, else the named tools; a client not listed is blocked. The headers
`x-bf-mcp-include-clients` (client names) and `x-bf-mcp-include-tools` (`client-tool` or
`client-*`) narrow that set further; a header present but empty allows nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SEPARATOR = "-"
FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
INCLUDE_CLIENTS = "x-bf-mcp-include-clients"
INCLUDE_TOOLS = "x-bf-mcp-include-tools"


def function_name(client: str, tool: str) -> str | None:
    """`client-tool`, or None when that is not a valid function name (chars, 64 at most)."""
    name = f"{client}{SEPARATOR}{tool}"
    return name if FUNCTION_NAME.fullmatch(name) else None


def split_function(name: str) -> tuple[str, str] | None:
    """(client, tool) of a `client-tool` function name (client names have no `-`)."""
    client, separator, tool = name.partition(SEPARATOR)
    return (client, tool) if separator and client and tool else None


def _names(value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    return frozenset(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class Narrowing:
    """The request's own narrowing; None where the header is absent."""

    clients: frozenset[str] | None = None
    tools: frozenset[str] | None = None

    @classmethod
    def of(cls, headers: Mapping[str, str]) -> Narrowing:
        """The narrowing the request headers ask for."""
        return cls(_names(headers.get(INCLUDE_CLIENTS)), _names(headers.get(INCLUDE_TOOLS)))

    def admits_client(self, client: str) -> bool:
        """True unless the headers leave every tool of this client out."""
        if self.clients is not None and not ({client, "*"} & self.clients):
            return False
        if self.tools is None:
            return True
        return "*" in self.tools or any(t.startswith(client + SEPARATOR) for t in self.tools)

    def admits(self, client: str, tool: str) -> bool:
        """True if the headers leave this tool in."""
        if not self.admits_client(client):
            return False
        wanted = {f"{client}{SEPARATOR}{tool}", f"{client}{SEPARATOR}*", "*"}
        return self.tools is None or bool(wanted & self.tools)


def listed_tools(configs: Iterable[Mapping[str, Any]], client: str) -> frozenset[str]:
    """The tool names a key's allow-list gives it on one client (`*` for all)."""
    found: set[str] = set()
    for config in configs:
        if config.get("mcp_client_name") == client:
            found.update(config.get("tools_to_execute") or ())
    return frozenset(found)


def key_allows(configs: Iterable[Mapping[str, Any]], client: str, tool: str) -> bool:
    """True if the key's allow-list lets it use the tool."""
    listed = listed_tools(configs, client)
    return "*" in listed or tool in listed


def permitted(
    configs: Iterable[Mapping[str, Any]], narrowing: Narrowing, client: str, tool: str
) -> bool:
    """The effective set: allowed by the key and left in by the headers."""
    return key_allows(configs, client, tool) and narrowing.admits(client, tool)


def may_use_client(configs: Iterable[Mapping[str, Any]], narrowing: Narrowing, client: str) -> bool:
    """True if some tool of the client could be in the effective set (worth discovering)."""
    return bool(listed_tools(configs, client)) and narrowing.admits_client(client)
