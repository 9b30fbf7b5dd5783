"""MCP tool filtering: the key's allow-list narrowed by request headers, and offering."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from govledger.proxy.mcp.allow import (
    Narrowing,
    function_name,
    key_allows,
    may_use_client,
    permitted,
    split_function,
)
from govledger.proxy.mcp.offer import OfferedTool, with_tools

CONFIGS = [
    {"mcp_client_name": "files", "tools_to_execute": ["read"]},
    {"mcp_client_name": "web", "tools_to_execute": ["*"]},
    {"mcp_client_name": "db", "tools_to_execute": []},
]
CLIENTS = ("files", "web", "db", "mail")
TOOLS = ("read", "write", "fetch")


def test_the_allow_list_reads_star_names_and_empty_and_blocks_unlisted_clients() -> None:
    allowed = {(c, t) for c in CLIENTS for t in TOOLS if key_allows(CONFIGS, c, t)}
    assert allowed == {("files", "read"), ("web", "read"), ("web", "write"), ("web", "fetch")}


def test_headers_narrow_by_client_and_by_tool_and_an_empty_header_allows_nothing() -> None:
    def narrowed(headers: dict[str, str]) -> set[str]:
        narrowing = Narrowing.of(headers)
        return {f"{c}-{t}" for c in CLIENTS for t in TOOLS if permitted(CONFIGS, narrowing, c, t)}

    assert narrowed({"x-bf-mcp-include-clients": "files"}) == {"files-read"}
    assert narrowed({"x-bf-mcp-include-tools": "web-*, files-write"}) == {
        "web-read",
        "web-write",
        "web-fetch",
    }
    assert narrowed({"x-bf-mcp-include-clients": ""}) == set()
    assert narrowed({"x-bf-mcp-include-tools": " , "}) == set()
    assert narrowed({"x-bf-mcp-include-clients": "*", "x-bf-mcp-include-tools": "*"}) == narrowed(
        {}
    )


headers = st.dictionaries(
    st.sampled_from(["x-bf-mcp-include-clients", "x-bf-mcp-include-tools"]),
    st.lists(st.sampled_from([*CLIENTS, "*", "web-*", "files-read", "web-fetch"]), max_size=3).map(
        ",".join
    ),
)


@given(headers)
def test_the_effective_set_never_leaves_the_key_allow_list(sent: dict[str, str]) -> None:
    narrowing = Narrowing.of(sent)
    for client in CLIENTS:
        for tool in TOOLS:
            if permitted(CONFIGS, narrowing, client, tool):
                assert key_allows(CONFIGS, client, tool)
                assert may_use_client(CONFIGS, narrowing, client)


def test_function_names_join_client_and_tool_within_64_safe_characters() -> None:
    assert function_name("files", "read") == "files-read"
    assert split_function("files-read-all") == ("files", "read-all")
    assert function_name("files", "r" * 58) == "files-" + "r" * 58
    assert function_name("files", "r" * 59) is None
    assert function_name("files", "read file") is None
    assert split_function("nohyphen") is None


def test_offered_tools_are_written_in_each_surfaces_format_and_a_clients_own_tool_wins() -> None:
    tool = OfferedTool("files-read", "Read a file.", {"type": "object"})
    own: dict[str, Any] = {"type": "function", "function": {"name": "files-read"}}
    assert with_tools("openai_chat", {"tools": [own]}, [tool]) == {"tools": [own]}
    chat = with_tools("openai_chat", {}, [tool])["tools"]
    function = {
        "name": "files-read",
        "description": "Read a file.",
        "parameters": {"type": "object"},
    }
    assert chat == [{"type": "function", "function": function}]
    anthropic = with_tools("anthropic_messages", {}, [tool])["tools"]
    assert anthropic == [{"name": "files-read", "description": "Read a file.",
                          "input_schema": {"type": "object"}}]  # fmt: skip
    gemini = with_tools("gemini", {"tools": [{"googleSearch": {}}]}, [tool])["tools"]
    declaration = {"name": "files-read", "description": "Read a file.",
                   "parametersJsonSchema": {"type": "object"}}  # fmt: skip
    assert gemini[1] == {"functionDeclarations": [declaration]}
    responses = with_tools("openai_responses", {}, [tool])["tools"]
    assert responses[0]["name"] == "files-read"
    assert with_tools("openai_embeddings", {"input": "x"}, [tool]) == {"input": "x"}
