"""Compatibility records: `@pytest.mark.compat(client, feature)` on a test (or a
`compat_record` call) notes the client, its installed version, the feature and the result;
with GOVLEDGER_WRITE_COMPATIBILITY=1 the session writes docs/compatibility.md from them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "compatibility.md"
WRITE = "GOVLEDGER_WRITE_COMPATIBILITY"
NODE_MODULES = ROOT / "tests" / "node" / "node_modules"


@dataclass(frozen=True)
class Record:
    """One client feature's outcome in this run."""

    language: str
    client: str
    version: str
    feature: str
    result: str


_records: list[Record] = []


def python_version(distribution: str) -> str:
    """The installed version of a Python distribution, or `not installed`."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def node_version(package: str) -> str:
    """The installed version of an npm package under tests/node, or `not installed`."""
    import json

    manifest = NODE_MODULES / package / "package.json"
    if not manifest.exists():
        return "not installed"
    return str(json.loads(manifest.read_text())["version"])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "compat(client, feature, language='python'): a drop-in compatibility record"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    marker = item.get_closest_marker("compat")
    if marker is None:
        return report
    if not (report.when == "call" or (report.when == "setup" and not report.passed)):
        return report
    client, feature = marker.args[:2]
    language = marker.kwargs.get("language", "python")
    result = "skipped" if report.skipped else "pass" if report.passed else "FAIL"
    version = python_version(client) if language == "python" else node_version(client)
    _records.append(Record(language, client, version, feature, result))
    return report


def render(records: list[Record]) -> str:
    """The compatibility page: one row per client, one cell per feature."""
    lines = [
        "# Drop-in compatibility",
        "",
        "Generated from the test run by `tests/compat_plugin.py` (run",
        "`GOVLEDGER_WRITE_COMPATIBILITY=1 .venv/bin/python -m pytest tests/e2e/clients"
        " tests/e2e/test_node_clients.py -p no:cacheprovider`). Each client runs against a",
        "running gateway and the fake upstream (`govledger/proxy/fake_upstream`, a stand-in",
        "for the vendors: deterministic text, tool calls and schema instances). `pass` means",
        "the test asserted the behaviour, including usage and cost equal to the ledger.",
        "",
    ]
    by_client: dict[tuple[str, str, str], dict[str, str]] = {}
    for r in records:
        cell = by_client.setdefault((r.language, r.client, r.version), {})
        previous = cell.get(r.feature)
        cell[r.feature] = r.result if previous in (None, "pass") else previous
    for language in ("python", "node"):
        rows = {k: v for k, v in by_client.items() if k[0] == language}
        if not rows:
            continue
        lines += [f"## {'Python' if language == 'python' else 'Node/TypeScript'}", ""]
        lines += ["| client | version | feature | result |", "|---|---|---|---|"]
        for (_, client, version), features in sorted(rows.items()):
            for feature, result in features.items():
                lines.append(f"| {client} | {version} | {feature} | {result} |")
        lines.append("")
    return "\n".join(lines)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get(WRITE) == "1" and _records:
        TARGET.write_text(render(_records))
