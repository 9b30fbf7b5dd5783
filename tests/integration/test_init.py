"""`govledger init`: flags and prompts write a config valid against the schema (no secret
in it), an env file of mode 0600 with the key, and the next command; the result serves."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import openai
import pytest
from typer.testing import CliRunner

from govledger.ledger.config import parse_config
from govledger.proxy.cli.init import KEY_VARIABLE
from govledger.proxy.cli.main import app
from tests.conftest import start_gateway

runner = CliRunner()
VENDOR_VARIABLES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")


@pytest.fixture(autouse=True)
def no_vendor_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VENDOR_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def env_values(path: Path) -> dict[str, str]:
    """The NAME=value lines of an env file."""
    lines = [line for line in path.read_text().splitlines() if "=" in line]
    return dict(line.split("=", 1) for line in lines)


def test_flags_write_a_valid_config_of_the_providers_found_and_a_private_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret-value")
    monkeypatch.setenv("GOOGLE_API_KEY", "g-secret-value")
    config, env = tmp_path / "config.json", tmp_path / "gl.env"
    url = "postgresql://gl:pw@db:5432/gl"
    args = ["init", "--yes", "-o", str(config), "--env-file", str(env), "--customer", "Acme Corp",
            "--team", "Search", "--key-name", "search bot", "--budget", "12.50",
            "--period", "1w", "--postgres-url", url]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    document = json.loads(config.read_text())
    parsed = parse_config(document)
    assert [(p.type, p.keys[0].value) for p in parsed.providers] == [
        ("anthropic", "env.ANTHROPIC_API_KEY"),
        ("gemini", "env.GOOGLE_API_KEY"),
    ]
    [key] = parsed.virtual_keys
    assert (key.id, key.team_id, key.value) == ("search-bot", "search", f"env.{KEY_VARIABLE}")
    assert (str(key.budgets[0].max_limit), key.budgets[0].reset_duration) == ("12.50", "1w")
    assert parsed.teams[0].customer_id == parsed.customers[0].id == "acme-corp"
    assert "secret" not in config.read_text()
    values = env_values(env)
    assert values["GOVLEDGER_DATABASE_URL"] == url
    assert values[KEY_VARIABLE].startswith("sk-bf-")
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert values[KEY_VARIABLE] not in result.output
    assert f"govledger serve --config {config}" in result.output


def test_without_a_provider_key_and_without_prompts_it_refuses_and_names_the_variables(
    tmp_path: Path,
) -> None:
    result = runner.invoke(app, ["init", "--yes", "-o", str(tmp_path / "c.json")])
    assert result.exit_code == 1
    assert "OPENAI_API_KEY" in result.output
    assert not (tmp_path / "c.json").exists()


def test_existing_files_are_kept_unless_forced(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text("{}")
    args = ["init", "--yes", "--mock", "-o", str(config), "--env-file", str(tmp_path / "e")]
    assert runner.invoke(app, args).exit_code == 1
    assert config.read_text() == "{}"
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0
    assert parse_config(json.loads(config.read_text())).virtual_keys


def test_the_prompts_take_answers_and_refuse_a_budget_that_is_not_a_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    config, env = tmp_path / "config.json", tmp_path / "gl.env"
    answers = "\n".join(["y", "abc", "7", "", "Initech", "Payments", "ci key"]) + "\n"
    args = ["init", "--interactive", "-o", str(config), "--env-file", str(env)]
    result = runner.invoke(app, args, input=answers)
    assert result.exit_code == 0, result.output
    assert "'abc' is not a number" in result.output
    parsed = parse_config(json.loads(config.read_text()))
    assert [p.type for p in parsed.providers] == ["openai"]
    assert (parsed.customers[0].name, parsed.teams[0].name) == ("Initech", "Payments")
    assert (parsed.virtual_keys[0].name, str(parsed.virtual_keys[0].budgets[0].max_limit)) == (
        "ci key",
        "7",
    )
    assert "GOVLEDGER_DATABASE_URL" not in env.read_text()


def test_the_mock_config_serves_requests_with_the_written_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, env = tmp_path / "config.json", tmp_path / "gl.env"
    args = ["init", "--yes", "--mock", "-o", str(config), "--env-file", str(env)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "--mock-upstream 9000" in result.output
    key = env_values(env)[KEY_VARIABLE]
    monkeypatch.setenv(KEY_VARIABLE, key)
    document = json.loads(config.read_text().replace("http://127.0.0.1:9000", "{MOCK}"))
    gateway = start_gateway(f"sqlite:///{tmp_path}/ledger.sqlite", document, tmp_path)
    try:
        sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
        reply = sdk.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.choices[0].message.content == "Hello from the mock upstream."
    finally:
        gateway.stop()
