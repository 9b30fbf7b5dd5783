"""REST and `govledger apply` change the same ledger: apply shows REST's changes as its plan."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from govledger.proxy.cli.main import app
from tests.conftest import RunningGateway
from tests.e2e.management.support import CONFIG, Api, poll

FILE = {
    **CONFIG,
    "customers": [{"id": "acme", "name": "Acme"}],
    "teams": [{"id": "platform", "name": "Platform", "customer_id": "acme"}],
    "virtual_keys": [
        {"id": "svc", "name": "Service", "value": "sk-bf-convergence-0001", "team_id": "platform"}
    ],
}


def apply(gateway: RunningGateway, path: Path, *flags: str) -> list[str]:
    """Run `govledger apply` on the gateway's store; returns its output lines."""
    settings = gateway.runtime.settings
    env = {
        "GOVLEDGER_DATABASE_URL": settings.database_url,
        "GOVLEDGER_SECRET_KEY_FILE": str(settings.secret_key_file),
        "GOVLEDGER_SECRET_KEY": None,
    }
    result = CliRunner().invoke(app, ["apply", str(path), "--actor", "ops", *flags], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_apply_after_rest_changes_plans_their_difference_and_converges(
    api: Api, gateway: RunningGateway, tmp_path: Path
) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(FILE).replace("{MOCK}", gateway.upstream_url))
    apply(gateway, path)
    poll(lambda: api.get("/api/governance/teams/platform"), lambda a: a.status == 200)
    api.put("/api/governance/teams/platform", {"name": "Renamed", "customer_id": "acme"})
    api.post("/api/governance/virtual-keys", {"id": "rest-only", "name": "Made by REST"})

    plan = apply(gateway, path, "--dry-run")

    # The file manages the team it declares; the key made through REST is not the file's.
    assert [line for line in plan if "platform" in line or "rest-only" in line] == [
        "update  team platform (name)",
        "not managed by this file: virtual_key rest-only (created by api)",
    ]
    apply(gateway, path)
    team = poll(
        lambda: api.get("/api/governance/teams/platform").json,
        lambda t: t["name"] == "Platform",
    )
    assert team["version"] == 3
    assert api.get("/api/governance/virtual-keys/rest-only").json["is_active"] is True
    assert apply(gateway, path, "--dry-run")[0].startswith("No changes")

    pruned = apply(gateway, path, "--prune")
    assert "disable virtual_key rest-only (is_active)" in pruned
    key = poll(
        lambda: api.get("/api/governance/virtual-keys/rest-only").json,
        lambda k: k["is_active"] is False,
    )
    assert key["managed_by"] == "api"


def test_a_rotated_key_is_no_difference_to_a_file_without_its_value(
    api: Api, gateway: RunningGateway, tmp_path: Path
) -> None:
    document = {
        **FILE,
        "virtual_keys": [{"id": "svc2", "name": "Generated", "team_id": "platform"}],
    }
    path = tmp_path / "generated.json"
    path.write_text(json.dumps(document).replace("{MOCK}", gateway.upstream_url))
    apply(gateway, path)
    poll(lambda: api.get("/api/governance/virtual-keys/svc2"), lambda a: a.status == 200)

    api.post("/api/governance/virtual-keys/svc2/rotate", {"grace_seconds": 30})

    plan = apply(gateway, path, "--dry-run")
    assert [line for line in plan if "svc2" in line] == []
