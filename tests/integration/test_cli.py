"""The govledger command on a real store: status, apply (and --dry-run), rebuild, bad input."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from govledger.ledger.store import Store, StoreURL
from govledger.projections.database import ViewDatabase
from govledger.proxy.cli.main import app
from tests.conftest import POSTGRES_URL
from tests.integration.workload import CONFIG, Requests, config_with, snapshot

DOWN = "postgresql://postgres@127.0.0.1:1/test"
Run = Callable[..., Result]


@pytest.fixture
def run(store_url: str, tmp_path: Path) -> Run:
    """Run `govledger ARGS` against the store; returns the click Result."""
    runner = CliRunner()
    env = {
        "GOVLEDGER_DATABASE_URL": store_url,
        "GOVLEDGER_SECRET_KEY_FILE": str(tmp_path / "secret.key"),
        "GOVLEDGER_SECRET_KEY": None,
    }

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), env=env)

    return invoke


def write(tmp_path: Path, document: Any, name: str = "config.json") -> str:
    """Write a config document to a file and return its path."""
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


def events_in(store_url: str) -> dict[str, int]:
    """How many events each application holds."""
    store = Store(store_url)
    try:
        return {app: store.max_position(app) for app in ("governance", "usage")}
    finally:
        store.close()


def test_status_of_an_empty_store_reports_no_events_and_no_lag(run: Run, store_url: str) -> None:
    Store(store_url).close()  # created, as `apply` or `serve` creates it
    result = run("status", "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["events"] == {"governance": 0, "usage": 0}
    assert [(p["name"], p["app"], p["position"], p["lag"]) for p in report["projections"]] == [
        ("audit", "governance", 0, 0),
        ("usage", "usage", 0, 0),
    ]


def test_apply_prints_the_plan_and_appends_it_once(
    run: Run, tmp_path: Path, store_url: str
) -> None:
    path = write(tmp_path, CONFIG)

    first = run("apply", path, "--actor", "alice")
    second = run("apply", path, "--actor", "alice")

    assert first.exit_code == 0, first.output
    *plan, shown, total = first.stdout.splitlines()
    assert plan == [
        "create  provider openai",
        "create  customer acme",
        "create  team platform",
        "create  virtual_key ci",
        "create  virtual_key old",
        "create  settings gateway",
    ]
    assert re.fullmatch(r"new virtual key old: sk-bf-\S{40}  \(shown once; store it now\)", shown)
    assert total == "6 event(s) appended"
    assert second.exit_code == 0, second.output
    assert second.stdout.splitlines() == [
        "No changes: the ledger already matches the file.",
        "0 event(s) appended",
    ]
    assert events_in(store_url) == {"governance": 6, "usage": 0}


def test_apply_dry_run_prints_the_plan_and_appends_nothing(
    run: Run, tmp_path: Path, store_url: str
) -> None:
    run("apply", write(tmp_path, CONFIG), "--actor", "alice")
    changed = config_with(lambda c: c["teams"][0]["budgets"][0].update(max_limit="30"))

    result = run("apply", write(tmp_path, changed, "changed.json"), "--dry-run")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "update  team platform (budgets)",
        "dry run: 0 event(s) appended",
    ]
    assert events_in(store_url) == {"governance": 6, "usage": 0}


def test_a_dry_run_does_not_show_a_key_it_did_not_create(run: Run, tmp_path: Path) -> None:
    result = run("apply", write(tmp_path, CONFIG), "--dry-run")

    assert result.exit_code == 0, result.output
    assert "sk-bf-" not in result.output


def test_a_bad_config_exits_non_zero_with_one_line_per_problem_and_appends_nothing(
    run: Run, tmp_path: Path, store_url: str
) -> None:
    bad = config_with(lambda c: c["virtual_keys"][0].update(customer_id="acme", colour="red"))
    bad["customers"][0]["budgets"][0]["reset_duration"] = "5x"
    path = write(tmp_path, bad)

    result = run("apply", path)

    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert [line.split(": ")[2] for line in lines] == [
        "customers[0].budgets[0].reset_duration",
        "virtual_keys[0].customer_id",
        "virtual_keys[0].colour",
    ]
    assert all(line.startswith(f"error: {path}: ") for line in lines)
    assert "Traceback" not in result.output
    assert events_in(store_url) == {"governance": 0, "usage": 0}


def test_an_unset_environment_reference_is_refused_with_its_path_and_appends_nothing(
    run: Run, tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOVLEDGER_TEST_UNSET_KEY", raising=False)
    bad = config_with(lambda c: c["virtual_keys"][1].update(value="env.GOVLEDGER_TEST_UNSET_KEY"))
    path = write(tmp_path, bad)

    result = run("apply", path)

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {path}: virtual_keys[1].value: "
        "environment variable GOVLEDGER_TEST_UNSET_KEY is not set"
    ]
    assert events_in(store_url) == {"governance": 0, "usage": 0}


def test_apply_refuses_to_record_a_credential_header_naming_its_path(
    run: Run, tmp_path: Path, store_url: str
) -> None:
    path = write(tmp_path, config_with(lambda c: c.update(record_headers=["x-team", "x-bf-vk"])))

    result = run("apply", path)

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {path}: record_headers[1]: 'x-bf-vk' carries a credential and cannot be recorded"
    ]
    assert events_in(store_url) == {"governance": 0, "usage": 0}


@pytest.mark.parametrize(
    "command", [("status",), ("audit", "verify"), ("export", "--sink", "file:///dev/null")]
)
def test_read_only_commands_refuse_to_create_a_store_naming_where_they_looked(
    run: Run, store_url: str, tmp_path: Path, command: tuple[str, ...]
) -> None:
    result = run(*command)

    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    if store_url.startswith("sqlite"):
        looked = tmp_path / "ledger.governance.sqlite"
        assert line.startswith(f"error: no event store at {looked} ")
        assert not looked.exists() and not (tmp_path / "ledger.usage.sqlite").exists()
    else:
        assert line.startswith(f"error: no event store in {store_url} ")
        assert events_in_tables(store_url) == []
    assert line.endswith("`govledger apply` or `govledger serve` creates it")


def events_in_tables(url: str) -> list[str]:
    """The tables of a PostgreSQL database (none in a store never created)."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return [r[0] for r in rows]


def test_a_file_that_is_not_json_is_one_line_of_error(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{ not json")

    result = run("apply", str(path))

    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"error: {path}: not valid JSON")


def test_rebuild_reproduces_the_views_and_status_shows_no_lag(
    run: Run, tmp_path: Path, store_url: str
) -> None:
    run("apply", write(tmp_path, CONFIG), "--actor", "alice")
    store = Store(store_url)
    try:
        store.usage.save(*Requests(seed=8).mixed(40))
    finally:
        store.close()

    lagging = json.loads(run("status", "--json").stdout)
    first = run("rebuild")
    views = ViewDatabase(store_url)
    built = snapshot(views)
    second = run("rebuild")
    status = json.loads(run("status", "--json").stdout)

    assert [p["lag"] for p in lagging["projections"]] == [6, 40]
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("rebuilt audit, usage, metrics from event 1: 86 event(s) ")
    assert second.exit_code == 0, second.output
    assert snapshot(views) == built
    views.close()
    assert status["events"] == {"governance": 6, "usage": 40}
    assert [(p["name"], p["lag"]) for p in status["projections"]] == [
        ("audit", 0),
        ("metrics", 0),
        ("usage", 0),
    ]


def test_status_without_json_is_a_few_plain_lines(run: Run, store_url: str) -> None:
    Store(store_url).close()
    result = run("status")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:] == [
        "governance events: 0",
        "usage events: 0",
        "view audit: position 0, lag 0",
        "view usage: position 0, lag 0",
    ]


@pytest.mark.parametrize("command", [["status"], ["rebuild"], ["apply", "CONFIG"]])
def test_a_database_that_is_down_gives_one_clear_line_and_a_non_zero_exit(
    command: list[str], tmp_path: Path
) -> None:
    args = [write(tmp_path, CONFIG) if arg == "CONFIG" else arg for arg in command]
    env = {"GOVLEDGER_DATABASE_URL": DOWN, "GOVLEDGER_SECRET_KEY_FILE": str(tmp_path / "k")}

    result = CliRunner().invoke(app, args, env=env)

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: cannot open the event store at {DOWN}: ")
    assert line.endswith("Connection refused")
    assert "Traceback" not in result.output


@pytest.mark.skipif(not POSTGRES_URL, reason="GOVLEDGER_TEST_POSTGRES_URL is not set")
def test_a_database_that_does_not_exist_is_named_in_the_error(tmp_path: Path) -> None:
    url = f"{(POSTGRES_URL or '').rsplit('/', 1)[0]}/govledger_no_such_database"
    env = {"GOVLEDGER_DATABASE_URL": url, "GOVLEDGER_SECRET_KEY_FILE": str(tmp_path / "k")}

    result = CliRunner().invoke(app, ["status"], env=env)

    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.endswith('database "govledger_no_such_database" does not exist')


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (["status"], "error: status not read: "),
        (["rebuild"], "error: rebuild stopped: "),
        (["audit", "verify"], "error: audit chain not verified: "),
    ],
)
def test_views_that_cannot_be_opened_give_one_clear_line_and_a_non_zero_exit(
    command: list[str], says: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/ledger.sqlite"
    Store(url).close()
    StoreURL(url).sqlite_file("views").mkdir(parents=True)  # a directory where the file goes

    result = CliRunner().invoke(app, command, env={"GOVLEDGER_DATABASE_URL": url})

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(says)
