"""The layers: dependencies point one way, no import cycle, importing a module wires nothing."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "govledger"
PACKAGES = {"ledger", "projections", "exporters", "proxy"}  # (govledger/__init__: the version)
# Each package, and the packages of govledger it may import (besides itself).
MAY_IMPORT = {
    "ledger": set[str](),
    "projections": {"ledger"},
    "exporters": {"ledger", "projections"},
}
ENFORCEMENT = f"{PACKAGE}.proxy.enforcement"
WEB = {"fastapi", "starlette", "aiohttp", "uvicorn", "httpx"}
FAKE_UPSTREAM = f"{PACKAGE}.proxy.fake_upstream"
# The only places that may import the fake upstream, inside the function that serves it.
FAKE_UPSTREAM_STARTERS = {f"{PACKAGE}.proxy.cli.serve", f"{PACKAGE}.proxy.server.app"}


@dataclass(frozen=True)
class Import:
    """One name an import statement brings in, and whether it sits inside a function."""

    name: str  # `a.b` for `import a.b`, `a.b` for `from a import b` (b a module or a name)
    source: str  # the module the statement names: `a.b`, or `a` for `from a import b`
    lazy: bool


def modules(root: Path = ROOT, package: str = PACKAGE) -> list[str]:
    """Every module of the package, as dotted names."""
    found = []
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def imports(module: str, root: Path = ROOT) -> list[Import]:
    """Every name one module imports, at top level or inside functions."""
    parts = module.split(".")
    path = root.joinpath(*parts)
    source = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    package = parts if path.is_dir() else parts[:-1]
    found: list[Import] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, alias.name, lazy) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            found.extend(Import(f"{target}.{alias.name}", target, lazy) for alias in node.names)
        inside = lazy or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(ast.parse(source.read_text(), str(source)), False)
    return found


def imported_by(module: str, root: Path = ROOT) -> set[str]:
    """Every module and name one module imports, at top level or inside functions."""
    return {n for i in imports(module, root) for n in (i.name, i.source)}


def layer(name: str) -> str:
    """The package of a module name: `govledger.ledger.events` -> `ledger` (else the name)."""
    parts = name.split(".")
    return parts[1] if parts[0] == PACKAGE and len(parts) > 1 else parts[0]


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> dict[str, set[str]]:
    """Each module and the modules of the package it imports: for each imported name, the
    longest module that holds it (so `from pkg import sub` is an edge to `pkg.sub`, and to
    the package's `__init__` only when one of its own names is imported)."""
    known = set(modules(root, package))

    def holder(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module in known:
        held = {holder(i.name) for i in imports(module, root)}
        graph[module] = {h for h in held if h is not None and h != module}
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The import cycles of a graph: each strongly connected group of two or more modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan's algorithm; the graphs here are a few hundred
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(found)


def own(names: set[str]) -> Iterator[str]:
    """The names of the package among imported names."""
    yield from (name for name in names if name.startswith(f"{PACKAGE}."))


def test_the_walk_finds_the_modules_and_their_imports() -> None:
    assert {
        "govledger.ledger.events",
        "govledger.projections.usage_state",
        "govledger.proxy.cli.main",
    } <= set(modules())
    assert "govledger.projections.usage_view" in imported_by("govledger.proxy.server.runtime")
    serve = imports("govledger.proxy.cli.serve")
    assert (
        Import("govledger.proxy.server.app.create_app", "govledger.proxy.server.app", True) in serve
    )
    assert Import("typer", "typer", lazy=False) in serve


@pytest.mark.parametrize("module", [m for m in modules() if layer(m) in MAY_IMPORT])
def test_dependencies_point_one_way(module: str) -> None:
    room = layer(module)

    allowed = {room, *MAY_IMPORT[room]}
    wrong = sorted(n for n in own(imported_by(module)) if layer(n) in PACKAGES - allowed)

    assert wrong == [], f"{module} ({room}) imports {wrong}"


@pytest.mark.parametrize("module", [m for m in modules() if m.startswith(f"{ENFORCEMENT}.")])
def test_the_enforcement_core_imports_no_web_framework_and_nothing_else_of_the_proxy(
    module: str,
) -> None:
    names = imported_by(module)

    web = sorted(n for n in names if n.split(".")[0] in WEB)
    proxy = sorted(
        n for n in own(names) if layer(n) == "proxy" and not n.startswith(f"{ENFORCEMENT}.")
    )

    assert web == [], f"{module} imports {web}"
    assert proxy == [], f"{module} imports {proxy} (outside the enforcement core)"


def test_the_fake_upstream_is_imported_only_lazily_by_what_serves_it() -> None:
    importers = {
        (module, item.lazy)
        for module in modules()
        if not module.startswith(FAKE_UPSTREAM)
        for item in imports(module)
        if item.name.startswith(FAKE_UPSTREAM)
    }

    assert importers == {(m, True) for m in FAKE_UPSTREAM_STARTERS}


def test_no_module_imports_itself_back() -> None:
    assert cycles(import_graph()) == []


def test_a_planted_cycle_is_caught_through_a_function_level_import(tmp_path: Path) -> None:
    planted = tmp_path / "planted"
    (planted / "inner").mkdir(parents=True)
    (planted / "__init__.py").write_text("from planted.inner import leaf\n")
    (planted / "inner" / "__init__.py").write_text("")
    (planted / "inner" / "leaf.py").write_text("import json\n")
    (planted / "a.py").write_text("from planted import b\n")
    (planted / "b.py").write_text("def late() -> None:\n    from . import c\n")
    (planted / "c.py").write_text("from planted.a import something\n")

    graph = import_graph(tmp_path, "planted")

    assert graph["planted.b"] == {"planted.c"}
    assert graph["planted.inner.leaf"] == set()
    assert cycles(graph) == [["planted.a", "planted.b", "planted.c"]]


def test_a_package_importing_its_own_submodules_is_no_cycle(tmp_path: Path) -> None:
    routers = tmp_path / "routers"
    routers.mkdir()
    (routers / "__init__.py").write_text("from routers import one, shared\n")
    (routers / "one.py").write_text("from routers import shared\n")
    (routers / "shared.py").write_text("")

    assert cycles(import_graph(tmp_path, "routers")) == []
    (routers / "shared.py").write_text("from routers import install\n")  # a name of __init__
    assert cycles(import_graph(tmp_path, "routers")) == [
        ["routers", "routers.one", "routers.shared"]
    ]


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
