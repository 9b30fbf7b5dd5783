"""`pip install .` proof: the wheel holds one top-level package, and only `govledger.*` imports."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OLD_TOP_LEVEL = ["proxy", "ledger", "projections", "exporters"]  # release 0.1's packages


def run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a command to completion (bounded), capturing its output."""
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_the_wheel_installs_only_govledger_and_the_old_names_are_gone(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy: building writes build/ and *.egg-info beside it
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "govledger", source / "govledger", ignore=shutil.ignore_patterns("__pycache__")
    )

    built = run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", "dist", source, cwd=tmp_path
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("govledger-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    top = {name.split("/")[0] for name in names if ".dist-info/" not in name}
    assert top == {"govledger"}
    assert "govledger/ledger/events.py" in names
    assert "govledger/proxy/cli/main.py" in names
    assert "govledger/ledger/config.schema.json" in names  # package data

    venv = tmp_path / "venv"
    made = run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    installed = run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--no-deps",
        "-q",
        wheel,
        cwd=tmp_path,
    )
    assert installed.returncode == 0, installed.stderr

    found = run(
        python, "-I", "-c", "import govledger.proxy; print(govledger.proxy.__file__)", cwd=tmp_path
    )
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()).is_relative_to(venv)
    for old in OLD_TOP_LEVEL:
        gone = run(python, "-I", "-c", f"import {old}", cwd=tmp_path)
        assert gone.returncode != 0 and f"No module named '{old}'" in gone.stderr, old
