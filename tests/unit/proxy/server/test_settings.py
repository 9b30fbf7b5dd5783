"""Settings from the environment: defaults, overrides, and one clear error per bad value."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from govledger.proxy.cli.main import app
from govledger.proxy.server.settings import Settings, SettingsError


def test_defaults_hold_when_nothing_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GOVLEDGER_SETTLE_TIMEOUT", "GOVLEDGER_STALL_AFTER", "GOVLEDGER_MAX_BODY_BYTES"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env(instance="a")
    assert (settings.settle_timeout_s, settings.stall_after_s) == (2.0, 3.0)
    assert settings.max_body_bytes == 4 * 1024 * 1024 and settings.instance == "a"


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("GOVLEDGER_MAX_BODY_BYTES", "4MiB", "expected a whole number, got '4MiB'"),
        ("GOVLEDGER_SETTLE_TIMEOUT", "soon", "expected a number, got 'soon'"),
        ("GOVLEDGER_STALL_AFTER", "-1", "expected a number >= 0, got '-1'"),
        ("GOVLEDGER_UPSTREAM_TIMEOUT", "nan", "expected a number >= 0, got 'nan'"),
    ],
)
def test_a_bad_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        Settings.from_env()
    assert str(raised.value) == f"{name}: {says}"


def test_the_cli_prints_one_line_for_a_bad_value(tmp_path: object) -> None:
    env = {"GOVLEDGER_SETTLE_TIMEOUT": "soon", "GOVLEDGER_DATABASE_URL": "sqlite:///nowhere/x"}
    result = CliRunner().invoke(app, ["status"], env=env)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: GOVLEDGER_SETTLE_TIMEOUT: expected a number, got 'soon'"
    ]
