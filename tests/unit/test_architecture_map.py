"""docs/architecture.md's map lists every module of the package, and nothing that is gone."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "govledger"
MAP = ROOT / "docs" / "architecture.md"


def holds_code(path: Path) -> bool:
    """False for an `__init__.py` that is only a docstring (or empty): nothing to map."""
    if path.name != "__init__.py":
        return True
    body = ast.parse(path.read_text()).body
    return any(not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)) for n in body)


def listed(text: str) -> set[str]:
    """The module paths the map's table rows name, relative to govledger/."""
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([\w/]+\.py)`", row.split(" | ")[0])}


def test_every_module_is_on_the_map() -> None:
    modules = {
        path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py") if holds_code(path)
    }

    missing = sorted(modules - listed(MAP.read_text()))

    assert missing == [], f"docs/architecture.md does not list {missing}"


def test_the_map_lists_no_module_that_is_gone() -> None:
    gone = sorted(name for name in listed(MAP.read_text()) if not (PACKAGE / name).is_file())

    assert gone == [], f"docs/architecture.md lists {gone}, which do not exist"


def test_the_map_reader_sees_every_name_of_a_row() -> None:
    row = "| `ledger/a.py`, `proxy/b.py` | holds `not/this.py` |\n| x | `nor/this.py` |"

    assert listed(row) == {"ledger/a.py", "proxy/b.py"}
