"""The Node/TypeScript clients (official openai, @anthropic-ai/sdk, @google/genai; the
Vercel AI SDK with @ai-sdk/openai, @ai-sdk/anthropic, @ai-sdk/google) against a running
gateway: plain, streaming, tool calls, usage equal to the ledger, a spent budget as the
client's 402 error, and a route of another vendor answering when the first is down.

Versions are pinned by tests/node/package-lock.json; `npm ci` runs once per session (skipped
with a message where node or npm is missing). The scripts are tests/node/clients.mjs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningGateway
from tests.e2e.clients.support import (
    FALLBACK,
    KEYS,
    POOR,
    SERVED_BY,
    running_gateway,
)
from tests.e2e.openai_support import HELLO, HELLO_WORDS, flush_ledger, of_type
from tests.e2e.vendor_support import cost

NODE_DIR = Path(__file__).resolve().parent.parent / "node"
SURFACE = {
    "openai": "openai",
    "@anthropic-ai/sdk": "anthropic",
    "@google/genai": "gemini",
    "@ai-sdk/openai": "openai",
    "@ai-sdk/anthropic": "anthropic",
    "@ai-sdk/google": "gemini",
}
PLAIN = {"openai": "plain", "@anthropic-ai/sdk": "plain", "@google/genai": "plain"}
STREAM = {"openai": "stream", "@anthropic-ai/sdk": "stream", "@google/genai": "stream"}
FEATURES = ("plain", "stream", "tool calls", "budget refusal", "cross-provider fallback")
STREAM_IN = -(-len(b"echo: one two three") // 4)


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """tests/node/node_modules installed from the lock file, once per session."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the Node client tests (Node 20+)")
    modules = NODE_DIR / "node_modules"
    lock = NODE_DIR / "package-lock.json"
    stamp = modules / ".package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR, check=True, timeout=600,
        )  # fmt: skip
    return modules


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    yield from running_gateway(tmp_path_factory.mktemp("node"))


_runs: dict[str, dict[str, dict[str, Any]]] = {}


def run_client(gateway: RunningGateway, client: str) -> dict[str, dict[str, Any]]:
    """Every feature's result of one client (the script runs once per client)."""
    if client not in _runs:
        env = {
            **os.environ,
            "GATEWAY_URL": gateway.url,
            "OPENAI_KEY": KEYS["openai"],
            "ANTHROPIC_KEY": KEYS["anthropic"],
            "GEMINI_KEY": KEYS["gemini"],
            "POOR_KEY": POOR,
            **{f"FALLBACK_{k.upper()}_KEY": v for k, v in FALLBACK.items()},
        }
        done = subprocess.run(
            ["node", "clients.mjs", client], cwd=NODE_DIR, env=env, capture_output=True,
            text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        _runs[client] = {r["feature"]: r for r in json.loads(done.stdout)}
    return _runs[client]


def feature_name(client: str, feature: str) -> str:
    """The script's name of a feature (the AI SDK's are its function names)."""
    if feature in ("generateText", "streamText"):
        return f"{feature} (Responses API)"
    if client.startswith("@ai-sdk/"):
        return {"plain": "generateText", "stream": "streamText"}.get(feature, feature)
    return feature


CASES = [
    pytest.param(
        c, f, id=f"{c}-{f}", marks=pytest.mark.compat(c, feature_name(c, f), language="node")
    )
    for c in SURFACE
    for f in FEATURES
] + [  # the provider's default model, which speaks the Responses API
    pytest.param(
        "@ai-sdk/openai",
        f,
        id=f"@ai-sdk/openai-{f} (Responses API)",
        marks=pytest.mark.compat("@ai-sdk/openai", f"{f} (Responses API)", language="node"),
    )  # fmt: skip
    for f in ("generateText", "streamText")
]


@pytest.mark.parametrize(("client", "feature"), CASES)
def test_a_node_client_feature_works_through_the_gateway(
    node_modules: Path, gateway: RunningGateway, client: str, feature: str
) -> None:
    flush_ledger(gateway)
    results = run_client(gateway, client)
    result = results[feature_name(client, feature)]
    assert result["ok"], result
    surface = SURFACE[client]
    settled = [e for e in of_type(gateway, _settled_type()) if e.model == "m1"]
    if feature in ("plain", "stream", "generateText", "streamText", "cross-provider fallback"):
        assert all(e.status == "ok" for e in settled), [e.status for e in settled]
    if feature in ("plain", "generateText"):
        assert (result["text"], result["usage"]) == (HELLO, [1, HELLO_WORDS])
        assert _recorded(settled, 1, HELLO_WORDS)
    elif feature in ("stream", "streamText"):
        assert (result["text"], result["usage"]) == ("one two three", [STREAM_IN, 3])
        assert _recorded(settled, STREAM_IN, 3)
    elif feature == "tool calls":
        assert result["toolCall"] == ["add", {"a": 2, "b": 3}]
        if client.startswith("@ai-sdk/"):  # the SDK ran the tool and sent its result back
            assert result["steps"] == 2
            assert result["text"] in ("Tool said: 5", 'Tool said: {"output":5}',
                                      'Tool said: {"name":"add","content":5}')  # fmt: skip
    elif feature == "budget refusal":
        assert result["status"] == 402
        assert "budget" in result["error"]
    else:
        assert result["text"] == HELLO
        fallbacks = [e for e in settled if e.provider == SERVED_BY[surface]]
        assert any(
            [a["provider"] for a in e.attempts] == [f"down-{surface}", SERVED_BY[surface]]
            for e in fallbacks
        )


def _settled_type() -> Any:
    from govledger.ledger import events as ev

    return ev.RequestSettled


def _recorded(settled: list[Any], input_tokens: int, output_tokens: int) -> bool:
    """Whether the ledger holds a settlement of these tokens at their exact cost."""
    figures = (input_tokens, output_tokens, cost(input_tokens, output_tokens))
    return any((e.tokens["input"], e.tokens["output"], e.cost) == figures for e in settled)
