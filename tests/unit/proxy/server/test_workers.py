"""`serve --workers N`: who may run several workers, and their instance names (pure)."""

from __future__ import annotations

import pytest

from govledger.proxy.cli.workers import worker_instances, worker_refusal
from govledger.proxy.server.settings import Settings, SettingsError

PG = "postgresql://postgres@127.0.0.1:5432/db"


def test_workers_get_equal_names_of_their_own() -> None:
    assert worker_instances("gw", 3) == ["gw-w1", "gw-w2", "gw-w3"]


def test_several_workers_need_postgresql_and_no_fake_upstream() -> None:
    assert worker_refusal(1, "sqlite:///data/x.sqlite", None) is None
    assert worker_refusal(3, PG, None) is None
    sqlite = worker_refusal(3, "sqlite:///data/x.sqlite", None)
    assert sqlite is not None and "PostgreSQL" in sqlite and "SQLite" in sqlite
    assert worker_refusal(2, PG, 9000) is not None
    assert worker_refusal(0, PG, None) == "--workers: at least 1"


def test_allotments_are_auto_by_default_and_auto_means_postgresql_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GOVLEDGER_ALLOTMENTS", raising=False)
    monkeypatch.setenv("GOVLEDGER_DATABASE_URL", PG)
    assert Settings.from_env().leasing and Settings.from_env().allotments == "auto"
    monkeypatch.setenv("GOVLEDGER_DATABASE_URL", "sqlite:///data/x.sqlite")
    assert not Settings.from_env().leasing
    assert Settings(database_url=PG).leasing
    assert not Settings(database_url=PG, allotments="off").leasing
    assert Settings(database_url=PG, allotments="auto").leasing
    assert not Settings(database_url="sqlite:///data/x.sqlite", allotments="auto").leasing
    assert Settings(database_url="sqlite:///data/x.sqlite", allotments="on").leasing
    assert Settings(database_url=PG, allotments="on").leasing


def test_a_bad_allotments_setting_is_one_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOVLEDGER_ALLOTMENTS", "sometimes")
    with pytest.raises(SettingsError, match="GOVLEDGER_ALLOTMENTS"):
        Settings.from_env()


def test_the_allotment_timeout_is_positive_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOVLEDGER_ALLOTMENT_TIMEOUT", raising=False)
    assert Settings.from_env().allotment_timeout_s == 1.0
    monkeypatch.setenv("GOVLEDGER_ALLOTMENT_TIMEOUT", "0.5")
    assert Settings.from_env().allotment_timeout_s == 0.5
    monkeypatch.setenv("GOVLEDGER_ALLOTMENT_TIMEOUT", "0")
    with pytest.raises(SettingsError, match="GOVLEDGER_ALLOTMENT_TIMEOUT"):
        Settings.from_env()
