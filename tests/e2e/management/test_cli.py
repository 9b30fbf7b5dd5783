"""The management CLI against a running gateway: tables, --json, one-line errors."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from govledger.proxy.cli.main import app
from tests.conftest import RunningGateway, free_port
from tests.e2e.management.support import ADMIN, Api, poll

Run = Callable[..., Result]
PROVIDER = {
    "name": "cli-prov",
    "type": "openai",
    "base_url": "http://127.0.0.1:9/v1",
    "keys": [{"id": "a", "value": "env.HOME"}],
}


@pytest.fixture
def run(gateway: RunningGateway) -> Run:
    """Run `govledger ARGS` with GOVLEDGER_URL and GOVLEDGER_TOKEN set (token overridable)."""

    def invoke(*args: str, token: str | None = ADMIN, url: str | None = None) -> Result:
        env = {"GOVLEDGER_URL": url or gateway.url, "GOVLEDGER_TOKEN": token}
        return CliRunner().invoke(app, list(args), env=env)

    return invoke


def ok(result: Result) -> str:
    """The standard output of a command that must succeed."""
    assert result.exit_code == 0, result.output
    return result.stdout


def test_customers_create_list_show_update_delete(run: Run) -> None:
    ok(run("customers", "create", "--id", "cli-acme", "--name", "Acme"))
    ok(
        run(
            "customers",
            "update",
            "cli-acme",
            "--data",
            '{"budgets": [{"max_limit": "5", "reset_duration": "1M"}]}',
        )
    )

    listed = ok(run("customers", "list", "--search", "cli-acme"))
    shown = json.loads(ok(run("customers", "show", "cli-acme", "--json")))
    deleted = ok(run("customers", "delete", "cli-acme"))

    header, row = listed.splitlines()
    assert header.split() == ["ID", "NAME", "BUDGETS", "VERSION"]
    assert row.split()[:2] == ["cli-acme", "Acme"] and row.split()[-1] == "2"
    assert shown["budgets"][0]["max_limit"] == "5"
    assert deleted.strip() == "deleted customer cli-acme"


def test_keys_create_shows_the_value_once_and_disable_enable_rotate(
    run: Run, gateway: RunningGateway
) -> None:
    ok(run("teams", "create", "--id", "cli-team", "--name", "T"))
    created = run(
        "keys",
        "create",
        "--id",
        "cli-key",
        "--name",
        "K",
        "--data",
        '{"team_id": "cli-team", "provider_configs": [{"provider": "mock"}]}',
    )
    ok(created)
    value = created.stderr.split("store it now: ")[1].strip()

    ok(run("keys", "disable", "cli-key"))
    disabled = json.loads(ok(run("keys", "show", "cli-key", "--json")))
    ok(run("keys", "enable", "cli-key"))
    rotated = json.loads(ok(run("keys", "rotate", "cli-key", "--grace-seconds", "60", "--json")))

    assert value.startswith("sk-bf-") and "store it now" in created.stderr
    assert disabled["is_active"] is False and disabled["version"] == 2
    assert rotated["value"] != value and rotated["version"] == 4
    assert Api(gateway.url, value).get("/v1/models").status == 200  # still in its grace
    assert "cli-key" in ok(run("keys", "list", "--team", "cli-team"))


def test_usage_prints_each_budget_of_a_key(run: Run) -> None:
    ok(
        run(
            "keys",
            "create",
            "--id",
            "cli-usage",
            "--name",
            "U",
            "--data",
            '{"budgets": [{"max_limit": "2", "reset_duration": "1d"}]}',
        )
    )

    table = ok(run("usage", "cli-usage")).splitlines()

    assert table[0].split() == [
        "ID",
        "LEVEL",
        "LIMIT",
        "SETTLED",
        "RESERVED",
        "REMAINING",
        "PERIOD_END",
    ]
    assert table[1].split()[:6] == ["virtual_key:cli-usage#1d", "virtual_key", "2", "0", "0", "2"]


def test_audit_events_and_reports_print_tables_and_csv(run: Run, gateway: RunningGateway) -> None:
    ok(
        run(
            "providers",
            "create",
            "--data",
            json.dumps(PROVIDER),
        )
    )
    api = Api(gateway.url)
    poll(lambda: api.get("/api/audit/events?resource_id=cli-prov").json["data"], bool)

    table = ok(run("audit", "events", "--resource-id", "cli-prov"))
    exported = ok(run("audit", "events", "--resource-id", "cli-prov", "--format", "csv"))
    requests = ok(run("audit", "requests", "--format", "jsonl", "--limit", "1"))
    spend = ok(run("reports", "spend", "--group-by", "model"))

    assert "provider.created" in table and "token:bootstrap" in table
    assert next(csv.DictReader(io.StringIO(exported)))["action"] == "provider.created"
    assert requests == "" or json.loads(requests.splitlines()[0])["request_id"]
    assert spend.splitlines()[0].split() == [
        "PERIOD",
        "GROUP",
        "REQUESTS",
        "COST",
        "INPUT_TOKENS",
        "OUTPUT_TOKENS",
    ]


def test_roles_and_tokens_are_managed_from_the_cli(run: Run) -> None:
    ok(run("roles", "create", "cli-auditor", "--permission", "audit:view"))
    issued = json.loads(
        ok(run("tokens", "create", "cli-auditor-1", "--role", "cli-auditor", "--json"))
    )

    listed = ok(run("tokens", "list"))
    refused = run("teams", "list", token=issued["token"])
    ok(run("tokens", "delete", "cli-auditor-1"))
    ok(
        run(
            "roles",
            "update",
            "cli-auditor",
            "--permission",
            "audit:view",
            "--permission",
            "reports:view",
        )
    )

    assert "cli-auditor-1" in listed and issued["token"] not in listed
    assert refused.exit_code == 1
    assert refused.stderr.strip().startswith("error: 403 permission_denied:")
    assert "teams:view" in refused.stderr
    shown = json.loads(ok(run("roles", "show", "cli-auditor", "--json")))
    assert shown["permissions"] == ["audit:view", "reports:view"]
    assert "Developer" in ok(run("roles", "list"))


@pytest.mark.parametrize(
    ("args", "token", "message"),
    [
        (("teams", "list"), None, "error: 401 admin_token_required:"),
        (("teams", "show", "nobody"), ADMIN, "error: 404 not_found: no team 'nobody'"),
        (("teams", "create", "--data", "{"), ADMIN, "error: --data:"),
        (
            ("teams", "create", "--data", '{"colour": 1}'),
            ADMIN,
            "error: 422 invalid_request: name: Field required; colour:",
        ),
    ],
)
def test_every_failure_is_one_line_and_exit_status_one(
    run: Run, args: tuple[str, ...], token: str | None, message: str
) -> None:
    result = run(*args, token=token)

    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith(message)


def test_an_unreachable_gateway_is_one_line(run: Run) -> None:
    result = run("customers", "list", url=f"http://127.0.0.1:{free_port()}")

    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot reach http://127.0.0.1:")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_401_says_how_to_give_a_token_and_token_gives_one(run: Run) -> None:
    refused = run("customers", "list", token=None)
    assert refused.exit_code == 1
    assert refused.stderr.strip().endswith(
        "(set GOVLEDGER_TOKEN or pass --token with an admin token)"
    )

    assert run("customers", "list", "--token", ADMIN, token=None).exit_code == 0


def test_url_accepts_host_and_port(run: Run, gateway: RunningGateway) -> None:
    hostport = gateway.url.removeprefix("http://")
    assert run("customers", "list", "--url", hostport).exit_code == 0
    assert run("customers", "list", url=hostport).exit_code == 0  # GOVLEDGER_URL too


@pytest.mark.parametrize(
    ("kind", "offered"),
    [("customers", set()), ("providers", set()), ("teams", {"--customer"})],
)
def test_list_offers_only_the_filters_its_endpoint_applies(
    run: Run, kind: str, offered: set[str]
) -> None:
    for option in ("--team", "--customer"):
        result = run(kind, "list", option, "x")
        if option in offered:
            assert result.exit_code == 0, result.output
        else:
            assert result.exit_code == 2  # click: no such option
            assert "No such option" in result.output


def test_keys_list_filters_by_team(run: Run) -> None:
    ok(run("teams", "create", "--id", "cli-filter-team", "--name", "F"))
    ok(
        run(
            "keys",
            "create",
            "--id",
            "cli-filter-key",
            "--name",
            "K",
            "--data",
            '{"team_id": "cli-filter-team"}',
        )
    )
    listed = ok(run("keys", "list", "--team", "cli-filter-team", "--json"))
    assert [k["id"] for k in json.loads(listed)["data"]] == ["cli-filter-key"]


def test_guardrails_are_managed_from_the_cli(run: Run) -> None:
    checks = json.dumps(
        {"scope": "input", "checks": [{"type": "pii.card", "action": "block"}], "attach": ["*"]}
    )
    ok(run("guardrails", "create", "--id", "cli-guard", "--name", "Cards", "--data", checks))
    ok(run("guardrails", "update", "cli-guard", "--data", '{"scope": "both"}'))
    shown = json.loads(ok(run("guardrails", "show", "cli-guard", "--json")))
    listed = ok(run("guardrails", "list"))
    refused = run("guardrails", "create", "--id", "bad", "--data", '{"checks": []}')
    ok(run("guardrails", "delete", "cli-guard"))

    assert (shown["scope"], shown["version"], shown["name"]) == ("both", 2, "Cards")
    assert "cli-guard" in listed
    assert refused.exit_code == 1 and "checks" in refused.output
    assert "cli-guard" not in ok(run("guardrails", "list"))


def test_a_guardrail_policy_is_tried_locally_without_the_matched_text(
    run: Run, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"id": "p", "checks": [{"type": "pii.card", "action": "block"}]}))

    result = ok(run("guardrails", "try", str(policy), "--text", "card 4111 1111 1111 1111"))

    assert result.strip() == "block  pii.card payment_card [5:24]"
