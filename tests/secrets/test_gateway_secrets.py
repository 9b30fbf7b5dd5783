"""Provider keys from each secret manager, end to end through the OpenAI SDK: resolved at
start, rotated without a restart (the fake upstream sees the new key on the next request),
kept through an outage (readyz degraded, an alert, the ledger told), and a reference to
nothing refused in one line. See docs/secrets.md for which managers are real servers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import openai
import pytest
from typer.testing import CliRunner

from govledger.ledger import events as ev
from govledger.ledger.secrets.cache import fingerprint
from govledger.ledger.secrets.managers import Managers
from govledger.proxy.cli.secrets import check_lines
from tests.conftest import RunningGateway, mock_stats
from tests.e2e.management.support import Api
from tests.secrets.conftest import Manager
from tests.secrets.support import KEY, WebhookSink, provider_config, start

FIRST = "sk-vendor-first-0123456789"
SECOND = "sk-vendor-second-9876543210"


def ask(gateway: RunningGateway) -> str:
    """Send one chat request; the Authorization the fake upstream received."""
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=KEY, max_retries=0)
    reply = sdk.chat.completions.create(model="m1", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content
    return str(mock_stats(gateway)["last_headers"]["authorization"])


def secret_events(gateway: RunningGateway) -> list[ev.LedgerEvent]:
    """The secret events in the governance log."""
    return [
        event
        for _, event in gateway.runtime.store.iterate("governance")
        if isinstance(event, ev.SECRET_EVENTS)
    ]


def test_resolve_rotate_and_keep_the_last_good_value(
    manager: Manager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = WebhookSink()
    monkeypatch.setenv("GOVLEDGER_ALERT_WEBHOOK_URL", sink.url)
    monkeypatch.setenv(
        "GOVLEDGER_ALERT_WEBHOOK_SECRET", "whsec_" + "c2VjcmV0cy1lMmUtd2ViaG9vay1rZXktMzI="
    )
    manager.put(FIRST)
    gateway = start(manager, tmp_path, provider_config(manager.reference))
    try:
        assert ask(gateway) == f"Bearer {FIRST}"

        manager.put(SECOND)  # rotated at the manager; the refresher's next pass sees it
        changes = gateway.runtime.secrets.refresh(force=True)
        assert [c.kind for c in changes] == ["rotated"]
        assert ask(gateway) == f"Bearer {SECOND}"
        rotated = [e for e in secret_events(gateway) if isinstance(e, ev.SecretRotated)]
        assert [(e.reference, e.fingerprint) for e in rotated] == [
            (manager.reference, fingerprint(SECOND))
        ]
        assert rotated[0].previous_fingerprint == fingerprint(FIRST)

        manager.down()
        changes = gateway.runtime.secrets.refresh(force=True)
        assert [(c.kind, c.kept) for c in changes] == [("unavailable", True)]
        ready = Api(gateway.url, None).get("/readyz")
        assert ready.status == 200, ready.text
        assert ready.json["secrets"] == "degraded"
        [degraded] = ready.json["degraded_secrets"]
        assert degraded["reference"] == manager.reference and degraded["kept"] is True
        assert degraded["reason"]
        assert ask(gateway) == f"Bearer {SECOND}"  # the last good value stays in use

        alert = sink.wait_for("secret.unavailable")
        assert alert["data"]["reference"] == manager.reference
        assert alert["data"]["last_good_value_kept"] is True
        logged = json.dumps([vars(e) for e in secret_events(gateway)], default=str)
        for value in (FIRST, SECOND):
            assert value not in json.dumps(alert) and value not in logged
            assert value not in ready.text
    finally:
        gateway.stop()
        sink.stop()


def test_a_reference_to_nothing_says_so_in_one_line(
    manager: Manager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager.put(FIRST)
    managers = Managers(os.environ, dict(manager.resolvers))
    lines, failed = check_lines(
        {manager.reference: ["providers[0].keys[0]"], manager.missing: ["providers[1].keys[0]"]},
        managers,
    )
    assert failed == 1
    ok, fail = sorted(lines, key=lambda line: not line.startswith("ok"))
    assert ok.startswith(f"ok    {manager.reference}  ") and FIRST not in ok
    assert fingerprint(FIRST) in ok
    assert fail.startswith(f"FAIL  {manager.missing}  ") and "\n" not in fail
    assert "missing" in fail.partition("  ")[2]  # the reason names what is not there


def test_the_api_verifies_a_reference_only_when_asked(manager: Manager, tmp_path: Path) -> None:
    manager.put(FIRST)
    gateway = start(manager, tmp_path, provider_config(manager.reference))
    try:
        api = Api(gateway.url)
        body = {"type": "openai", "base_url": "http://127.0.0.1:9/v1"}
        nothing = {**body, "name": "nowhere", "keys": [{"id": "k", "value": manager.missing}]}
        refused = api.post("/api/governance/providers?verify=true", nothing)
        assert refused.status == 422, refused.text
        assert refused.error["code"] == "secret_unresolved"
        assert manager.missing in refused.error["message"]
        assert "keys[0].value" in refused.text
        assert api.post("/api/governance/providers", nothing).status == 201  # not asked
        real = {**body, "name": "real", "keys": [{"id": "k", "value": manager.reference}]}
        assert api.post("/api/governance/providers?verify=true", real).status == 201
        replaced = api.put("/api/governance/providers/real?verify=true", {**nothing, "name": None})
        assert replaced.status == 422, replaced.text
    finally:
        gateway.stop()


def test_serve_refuses_to_start_without_a_value_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from govledger.proxy.cli.main import app

    config = provider_config("env.GOVLEDGER_TEST_NEVER_SET_KEY")
    config["providers"][0]["base_url"] = "http://127.0.0.1:9/v1"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    monkeypatch.delenv("GOVLEDGER_TEST_NEVER_SET_KEY", raising=False)
    monkeypatch.setenv("GOVLEDGER_DATABASE_URL", f"sqlite:///{tmp_path}/ledger.sqlite")
    monkeypatch.setenv("GOVLEDGER_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    result = CliRunner().invoke(app, ["serve", "--config", str(path), "--port", "0"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: secret env.GOVLEDGER_TEST_NEVER_SET_KEY (providers[0].keys[0]):"
        " environment variable GOVLEDGER_TEST_NEVER_SET_KEY is not set"
    ]


def test_secrets_check_prints_each_reference_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from govledger.proxy.cli.main import app

    config = provider_config("env.GOVLEDGER_TEST_SET_KEY")
    config["providers"][0]["keys"].append({"id": "other", "value": f"file.{tmp_path}/none"})
    config["providers"][0]["base_url"] = "http://127.0.0.1:9/v1"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    monkeypatch.setenv("GOVLEDGER_TEST_SET_KEY", FIRST)
    monkeypatch.setenv("GOVLEDGER_ALERT_WEBHOOK_SECRET", "env.GOVLEDGER_TEST_SET_KEY")
    result = CliRunner().invoke(app, ["secrets", "check", "--config", str(path), "--no-ledger"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines == [
        f"ok    env.GOVLEDGER_TEST_SET_KEY  sk-v…(26 chars)  {fingerprint(FIRST)}"
        "  [providers[0].keys[0], GOVLEDGER_ALERT_WEBHOOK_SECRET]",
        f"FAIL  file.{tmp_path}/none  cannot read {tmp_path}/none: No such file or directory"
        "  [providers[0].keys[1]]",
        "1 resolved, 1 failed",
    ]


def test_a_file_reference_rotates_on_both_stores(store_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "openai.key"
    key_file.write_text(FIRST + "\n")
    reference = f"file.{key_file}"
    gateway = start(None, tmp_path, provider_config(reference), database_url=store_url)
    try:
        assert ask(gateway) == f"Bearer {FIRST}"
        key_file.write_text(SECOND + "\n")  # what a secrets-store CSI driver or an agent does
        assert [c.kind for c in gateway.runtime.secrets.refresh(force=True)] == ["rotated"]
        assert ask(gateway) == f"Bearer {SECOND}"
        key_file.unlink()
        assert [c.kind for c in gateway.runtime.secrets.refresh(force=True)] == ["unavailable"]
        assert ask(gateway) == f"Bearer {SECOND}"
        kinds = [type(e).__name__ for e in secret_events(gateway)]
        assert kinds == ["SecretRotated", "SecretFetchFailed"]
    finally:
        gateway.stop()
