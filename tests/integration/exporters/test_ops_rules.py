"""The shipped alert rules (ops/prometheus/rules.yml) under promtool: valid, their tests pass."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

OPS = Path(__file__).resolve().parents[3] / "ops" / "prometheus"


@pytest.mark.parametrize(
    "command", [["check", "rules", "rules.yml"], ["test", "rules", "rules_test.yml"]]
)
def test_promtool_accepts_and_passes_the_alert_rules(command: list[str]) -> None:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is absent (Debian package `prometheus`)")

    done = subprocess.run(
        ["promtool", *command], cwd=OPS, capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stdout + done.stderr
