"""Events stored before the gateway bounded its input (an estimate past 64 bits, a 4 KiB
model name) never stop a consumer: SIEM export in every format and the OTLP log records
carry them in the degraded `event.unrenderable` form, the metrics fold bounds their labels,
the request view takes them, and every consumer reaches the end of the log."""

from __future__ import annotations

import json
import random
import string
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from govledger.exporters.consumer import consume
from govledger.exporters.metrics_fold import LABEL_CHARS, MetricsFold, create_tables
from govledger.exporters.otlp_logs import log_records
from govledger.exporters.siem_export import SiemExport, replay
from govledger.exporters.siem_formats import FORMATS
from govledger.exporters.siem_sinks import Line
from govledger.ledger import events as ev
from govledger.ledger.store import Store
from govledger.projections.database import ViewDatabase
from govledger.projections.runner import catch_up
from govledger.projections.usage_view import UsageView
from govledger.proxy.cli.main import app

HUGE = 2**63 * 4  # an estimate the gateway once stored: orjson refuses it
LONG_MODEL = "".join(random.Random(9).choices(string.ascii_letters, k=4096))
AT = datetime(2025, 3, 1, 12, tzinfo=UTC)


class Collect:
    """A sink that keeps what it is sent."""

    def __init__(self) -> None:
        self.lines: list[Line] = []

    def send(self, lines: Sequence[Line]) -> None:
        self.lines.extend(lines)

    def close(self) -> None:
        """Nothing to release."""


def admitted(model: str, output: int) -> ev.RequestAdmitted:
    rid = uuid.uuid4()
    return ev.RequestAdmitted(
        originator_id=rid,
        originator_version=1,
        timestamp=AT,
        request_id=rid.hex,
        instance="old",
        incarnation="old-1",
        key_id="k1",
        team_id=None,
        customer_id=None,
        surface="openai_chat",
        model=model,
        provider=None,
        reservations=[],
        rate=[],
        estimate={"input": 10, "output": output, "cost": Decimal(0)},
        headers={},
    )


def rejected(model: str) -> ev.RequestRejected:
    rid = uuid.uuid4()
    return ev.RequestRejected(
        originator_id=rid,
        originator_version=1,
        timestamp=AT,
        request_id=rid.hex,
        key_id="k1",
        surface="anthropic_messages",
        model=model,
        code="model_price_unknown",
        level="pricing",
        message="no price",
        headers={},
    )


def poisoned_store(url: str) -> tuple[Store, list[ev.LedgerEvent]]:
    """A store whose usage log holds a huge estimate and a 4 KiB model among good events."""
    store = Store(url)
    events: list[ev.LedgerEvent] = [
        admitted("m1", 10),
        admitted("m1", HUGE),
        rejected(LONG_MODEL),
        admitted(LONG_MODEL, 5),
        admitted("m1", 20),
    ]
    mapper = store.usage.mapper
    store.usage.recorder.insert_events([mapper.to_stored_event(e) for e in events])
    return store, events


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_siem_export_degrades_an_unrenderable_event_and_goes_on(store_url: str, fmt: str) -> None:
    store, events = poisoned_store(store_url)
    db = ViewDatabase(store_url)
    db.create()
    try:
        sink = Collect()
        consume(store, db, SiemExport("usage", fmt, sink))
        assert db.position(f"siem_{fmt}", "usage") == store.max_position("usage")
        ids = [f"{e.originator_id}:{e.originator_version}" for e in events]
        assert [event_id for event_id, _ in sink.lines] == ids
        poison = sink.lines[1][1]
        assert "event.unrenderable" in poison and ids[1] in poison
        assert "RequestAdmitted" in poison and "Integer exceeds 64-bit range" in poison
        assert all("unrenderable" not in text for i, (_, text) in enumerate(sink.lines) if i != 1)
        replayed = Collect()
        assert replay(store, None, None, fmt, replayed) == len(events)
        assert replayed.lines == sink.lines
    finally:
        db.close()
        store.close()


def test_the_export_command_prints_every_event_in_every_format(store_url: str) -> None:
    store, events = poisoned_store(store_url)
    store.close()
    for fmt in sorted(FORMATS):
        env = {"GOVLEDGER_DATABASE_URL": store_url}
        result = CliRunner().invoke(app, ["export", "--format", fmt], env=env)
        assert result.exit_code == 0, result.output
        lines = [line for line in result.stdout.splitlines() if line]
        assert len(lines) == len(events)
        assert "event.unrenderable" in lines[1]
        assert sum("event.unrenderable" in line for line in lines) == 1


def test_otlp_log_records_degrade_an_unrenderable_event(sqlite_url: str) -> None:
    store, events = poisoned_store(sqlite_url)
    try:
        notes = store.read("usage", 0, 100)
        records = log_records("usage", notes, lambda n: store.decode("usage", n))
    finally:
        store.close()
    names = [r.log_record.event_name for r in records]
    assert len(names) == len(events)
    assert names[1] == "govledger.event.unrenderable"
    assert names.count("govledger.event.unrenderable") == 1
    body = json.loads(records[1].log_record.body)
    assert body["unrenderable"] is True and body["event_type"] == "RequestAdmitted"


def test_the_metrics_fold_and_the_request_view_take_a_4kib_model(store_url: str) -> None:
    store, events = poisoned_store(store_url)
    db = ViewDatabase(store_url)
    db.create()
    create_tables(db)
    try:
        consume(store, db, MetricsFold())
        assert db.position("metrics", "usage") == store.max_position("usage")
        assert catch_up(store, db, "usage", [UsageView()]) == len(events)
        with db.transaction() as cur:
            cur.execute("SELECT labels FROM gl_metrics")
            labels = [json.loads(row[0]) for row in cur.fetchall()]
            cur.execute("SELECT count(*) FROM gl_requests")
            assert cur.fetchone()[0] == len(events)
    finally:
        db.close()
        store.close()
    models = {label["model"] for label in labels if "model" in label}
    [long] = [m for m in models if m != "m1"]
    assert long.startswith(LONG_MODEL[:LABEL_CHARS]) and len(long) == LABEL_CHARS + 17


def test_an_event_that_cannot_be_decoded_is_exported_degraded(sqlite_url: str) -> None:
    store, events = poisoned_store(sqlite_url)
    db = ViewDatabase(sqlite_url)
    db.create()

    def broken(note: object) -> ev.LedgerEvent:
        raise ValueError("unknown topic")

    try:
        notes = store.read("usage", 0, 100)
        sink = Collect()
        with db.transaction() as cur:
            SiemExport("usage", "ecs", sink).process(cur, notes, broken)
    finally:
        db.close()
        store.close()
    assert len(sink.lines) == len(events)
    first = json.loads(sink.lines[0][1])
    assert first["event"]["action"] == "event.unrenderable"
    assert first["govledger"] == {
        "unrenderable": True,
        "event_type": "RequestAdmitted",
        "error": "ValueError: unknown topic",
    }
    assert first["event"]["sequence"] == notes[0].id
