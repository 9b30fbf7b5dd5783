"""The layers: dependencies point one way, and importing a module wires nothing."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "govledger"
FORBIDDEN = {
    "ledger": {"projections", "proxy", "exporters"},
    "projections": {"proxy", "exporters"},
    "exporters": {"proxy"},
}


def modules() -> list[str]:
    """Every module of the package, as dotted names."""
    found = []
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def layer(name: str) -> str:
    """The room of a module name: `govledger.ledger.events` -> `ledger` (else the name)."""
    parts = name.split(".")
    return parts[1] if parts[0] == PACKAGE and len(parts) > 1 else parts[0]


def imported_by(module: str) -> set[str]:
    """Every module name one module imports, at top level or inside functions."""
    parts = module.split(".")
    path = ROOT.joinpath(*parts)
    source = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    package = parts if path.is_dir() else parts[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return names


def test_the_walk_finds_the_modules_and_their_imports() -> None:
    assert {
        "govledger.ledger.events",
        "govledger.projections.usage_state",
        "govledger.proxy.cli.main",
    } <= set(modules())
    assert "govledger.projections.usage_view" in imported_by("govledger.proxy.server.runtime")
    assert "govledger.proxy.server.runtime" in imported_by(
        "govledger.proxy.cli.main"
    )  # imported inside a function


@pytest.mark.parametrize("module", [m for m in modules() if layer(m) in FORBIDDEN])
def test_dependencies_point_one_way(module: str) -> None:
    room = layer(module)

    wrong = sorted(
        n
        for n in imported_by(module)
        if n.startswith(f"{PACKAGE}.") and layer(n) in FORBIDDEN[room]
    )

    assert wrong == [], f"{module} ({room}) imports {wrong}"


def test_nothing_is_importable_outside_the_one_package() -> None:
    assert sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()) == [
        PACKAGE,
        "tests",
    ]


IMPORT_ALL = """
import json, os, socket, sqlite3, sys, threading
opened = []
def refuse(what):
    def hook(*args, **kwargs):
        opened.append(what)
        raise OSError(f"{what} at import")
    return hook
socket.socket.connect = refuse("socket.connect")
socket.create_connection = refuse("socket.create_connection")
sqlite3.connect = refuse("sqlite3.connect")
import psycopg
psycopg.Connection.connect = classmethod(refuse("psycopg.connect"))
for name in json.loads(sys.argv[1]):
    __import__(name)
fds = []
for fd in os.listdir("/proc/self/fd"):
    try:
        fds.append(os.readlink(f"/proc/self/fd/{fd}"))
    except FileNotFoundError:  # the descriptor listdir itself used
        pass
print(json.dumps({
    "threads": [t.name for t in threading.enumerate()],
    "opened": opened,
    "sockets": sum(fd.startswith("socket:") for fd in fds),
    "files": sorted(os.listdir(".")),
}))
"""


def test_every_module_imports_with_an_empty_environment_and_wires_nothing(tmp_path: Path) -> None:
    names = modules()

    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL, json.dumps(names)],
        cwd=tmp_path,
        env={},  # the venv installs the project (editable), so no PYTHONPATH is needed
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["threads"] == ["MainThread"]
    assert report["opened"] == []
    assert report["sockets"] == 0
    assert report["files"] == [], "importing wrote files into the working directory"
