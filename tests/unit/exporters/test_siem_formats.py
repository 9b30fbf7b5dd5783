"""SIEM records from events: redaction, ids, the OCSF type and CEF escaping (pure)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from govledger import __version__
from govledger.exporters.siem_formats import cef, ecs, fact, ocsf, redact
from govledger.ledger import events as ev
from govledger.ledger.personal import seal, subject_ref

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
STREAM = uuid.UUID(int=7)


def test_redaction_drops_credential_names_and_keeps_counts_and_latency() -> None:
    value = {
        "value_hash": "abc",
        "value_prefix": "sk-bf-ab",
        "keys": [{"id": "k", "value_enc": "x", "value_ref": "env.X"}],
        "headers": {"authorization": "Bearer s", "x-api-key": "s", "x-team": "t"},
        "retired": [{"hash": "h", "until": "later"}],
        "tokens": {"input": 1},
        "latency_ms": 2.5,
        "reference": "kept",
    }

    assert redact(value) == {
        "keys": [{"id": "k", "reference": "env.X"}],
        "headers": {"x-team": "t"},
        "retired": [{"until": "later"}],
        "tokens": {"input": 1},
        "latency_ms": 2.5,
        "reference": "kept",
    }


def entity_event() -> ev.VirtualKeyUpdated:
    return ev.VirtualKeyUpdated(
        originator_id=STREAM,
        originator_version=3,
        timestamp=AT,
        actor="alice",
        source="api",
        entity_id="k|1=x",
        data={"name": "n", "value_hash": "secret-hash"},
    )


def test_each_format_carries_the_stable_id_and_no_hash() -> None:
    f = fact("governance", 9, entity_event())

    records = [ecs(f), ocsf(f), cef(f)]

    assert f.id == f"{STREAM}:3"
    assert all(f.id in r for r in records)
    assert not any("secret-hash" in r for r in records)
    assert json.loads(records[0])["event"]["action"] == "virtual_key.updated"


def test_ocsf_type_uid_is_the_class_times_100_plus_the_activity() -> None:
    record = json.loads(ocsf(fact("governance", 9, entity_event())))

    assert (record["class_uid"], record["activity_id"], record["type_uid"]) == (6003, 3, 600303)


def test_cef_escapes_pipes_in_the_header_and_equals_in_extensions() -> None:
    line = cef(fact("governance", 9, entity_event()))

    assert line.startswith(f"CEF:0|govledger|govledger|{__version__}|virtual_key.updated|")
    assert "cs2=k|1\\=x" in line
    assert "alice updated virtual_key k\\|1=x via api" in line


def test_a_settled_request_is_a_usage_record_with_its_outcome() -> None:
    event = ev.RequestSettled(
        originator_id=STREAM,
        originator_version=2,
        timestamp=AT,
        request_id="r1",
        instance="i",
        incarnation="c",
        status="upstream_error",
        reason="503",
        provider="p",
        provider_key_id="k1",
        model="m",
        tokens={"input": 1},
        cost=Decimal("0.5"),
        price_source="override",
        charges=[],
        rate=[],
        attempts=[],
        latency_ms=3.0,
    )

    record = json.loads(ecs(fact("usage", 4, event)))

    assert record["event"]["action"] == "request.settled"
    assert record["event"]["outcome"] == "failure"
    assert record["govledger"]["cost"] == "0.5"
    assert record["govledger"]["latency_ms"] == 3.0


def test_a_sealed_personal_value_leaves_as_its_subject_reference_only() -> None:
    ref = subject_ref(b"s" * 32, "ann@example.com")
    sealed = seal("ann@example.com", ref, b"k" * 32, b"n" * 12)
    assert redact({"headers": {"x-user-id": sealed, "x-tenant": "acme"}}) == {
        "headers": {"x-user-id": f"sealed:{ref}", "x-tenant": "acme"}
    }
    assert redact({"personal": sealed}) == {"personal": f"sealed:{ref}"}
