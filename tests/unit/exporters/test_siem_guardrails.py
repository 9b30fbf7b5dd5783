"""A GuardrailTriggered renders in every SIEM format with its decision and offsets only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from govledger.exporters.siem_formats import FORMATS, fact
from govledger.ledger import events as ev


def decision(action: str) -> ev.GuardrailTriggered:
    return ev.GuardrailTriggered(
        originator_id=uuid.uuid4(),
        originator_version=1,
        timestamp=datetime(2026, 12, 1, tzinfo=UTC),
        request_id="r1",
        key_id="k1",
        surface="openai_chat",
        model="m1",
        direction="output",
        policy="no-ssn",
        check="pii.ssn",
        category="us_ssn",
        action=action,
        start=14,
        end=25,
        streamed=True,
    )


@pytest.mark.parametrize("name", sorted(FORMATS))
@pytest.mark.parametrize(("action", "outcome"), [("block", "failure"), ("redact", "success")])
def test_a_guardrail_decision_in_every_format(name: str, action: str, outcome: str) -> None:
    rendered = fact("usage", 7, decision(action))
    line = FORMATS[name](rendered)

    assert rendered.action == "guardrail.triggered" and rendered.outcome == outcome
    assert rendered.details["policy"] == "no-ssn" and rendered.details["start"] == 14
    assert "no-ssn" in line and "us_ssn" in line
