"""Secret settings read where they are used (alert channels, SIEM sinks): a reference is
fetched again after its TTL, a failure keeps the last good value, and a channel whose
secret cannot be resolved at start is left out rather than sent unsigned."""

from __future__ import annotations

from pathlib import Path

import pytest

from govledger.exporters.alert_channels import PagerDuty
from govledger.exporters.alerts import Webhook, channels_from_env
from govledger.exporters.siem_sinks import HttpSink, open_sink
from govledger.ledger.secrets.live import LiveSecret, current, secret_setting
from govledger.ledger.secrets.managers import Managers
from govledger.ledger.secrets.references import parse_reference
from govledger.ledger.secrets.resolver import SecretUnavailableError


def test_a_live_secret_is_fetched_again_after_its_ttl(tmp_path: Path) -> None:
    path = tmp_path / "hook"
    path.write_text("whsec_one\n")
    ref = parse_reference(f"file.{path}?ttl=10s")
    assert ref is not None
    now = [0.0]
    live = LiveSecret("GOVLEDGER_ALERT_WEBHOOK_SECRET", ref, Managers({}), clock=lambda: now[0])
    assert live() == "whsec_one"
    path.write_text("whsec_two\n")
    now[0] = 9.0
    assert live() == "whsec_one"  # within the TTL: memory
    now[0] = 10.0
    assert live() == "whsec_two"
    path.unlink()
    now[0] = 20.0
    assert live() == "whsec_two"  # the manager (here the file) is gone: last good value


def test_a_reference_without_a_value_fails_naming_the_setting() -> None:
    with pytest.raises(SecretUnavailableError) as caught:
        secret_setting(
            {"GOVLEDGER_SPLUNK_HEC_TOKEN": "env.NOT_SET_HERE"}, "GOVLEDGER_SPLUNK_HEC_TOKEN"
        )
    assert str(caught.value) == (
        "GOVLEDGER_SPLUNK_HEC_TOKEN=env.NOT_SET_HERE: environment variable NOT_SET_HERE is not set"
    )
    assert secret_setting({"X": "literal"}, "X") == "literal"


def test_alert_channels_and_sinks_take_references(tmp_path: Path) -> None:
    path = tmp_path / "hook"
    path.write_text("whsec_ZmlsZS1zZWNyZXQ=\n")
    env = {
        "GOVLEDGER_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook",
        "GOVLEDGER_ALERT_WEBHOOK_SECRET": f"file.{path}",
        "GOVLEDGER_ALERT_PAGERDUTY_ROUTING_KEY": "env.ROUTING",
        "ROUTING": "R0123",
        "GOVLEDGER_SPLUNK_HEC_TOKEN": "env.ROUTING",
    }
    [webhook, pagerduty] = channels_from_env(env)
    assert isinstance(webhook, Webhook) and current(webhook.secret) == "whsec_ZmlsZS1zZWNyZXQ="
    assert isinstance(pagerduty, PagerDuty) and current(pagerduty.routing_key) == "R0123"
    sink = open_sink("splunk+http://127.0.0.1:9", env)
    assert isinstance(sink, HttpSink)
    assert sink.body([])[1]["Authorization"] == "Splunk R0123"


def test_a_channel_whose_secret_cannot_be_resolved_is_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = {
        "GOVLEDGER_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook",
        "GOVLEDGER_ALERT_WEBHOOK_SECRET": "env.NOT_SET_HERE",
        "GOVLEDGER_ALERT_SLACK_URL": "http://127.0.0.1:9/slack",
    }
    assert [c.name for c in channels_from_env(env)] == ["slack"]  # never an unsigned webhook
    assert "GOVLEDGER_ALERT_WEBHOOK_SECRET=env.NOT_SET_HERE" in caplog.text
    with pytest.raises(ValueError, match="GOVLEDGER_SPLUNK_HEC_TOKEN=env.NOT_SET_HERE"):
        open_sink("splunk+http://127.0.0.1:9", {"GOVLEDGER_SPLUNK_HEC_TOKEN": "env.NOT_SET_HERE"})


def test_the_master_key_may_be_a_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    from govledger.ledger.credentials import CredentialError, SecretBox

    key = base64.urlsafe_b64encode(b"k" * 32).decode()
    (tmp_path / "master").write_text(key + "\n")
    monkeypatch.setenv("GOVLEDGER_SECRET_KEY", f"file.{tmp_path}/master")
    box = SecretBox.from_environment_or_file(tmp_path / "unused.key")
    assert SecretBox(b"k" * 32).decrypt(box.encrypt("sk-literal")) == "sk-literal"
    assert not (tmp_path / "unused.key").exists()
    monkeypatch.setenv("GOVLEDGER_SECRET_KEY", f"file.{tmp_path}/absent")
    with pytest.raises(CredentialError, match=r"GOVLEDGER_SECRET_KEY=file\..*/absent: cannot read"):
        SecretBox.from_environment_or_file(tmp_path / "unused.key")
