"""NATS JetStream fan-out against a real nats-server (one per test, own port and store dir):
ids and subjects, a poison event degraded, a re-send after a crash deduplicated, the server
down then back with nothing lost and in order, and hostile settings refused clearly."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from govledger.exporters.consumer import consume
from govledger.exporters.nats_export import (
    NatsConfigError,
    NatsExport,
    NatsPublishError,
    NatsSettings,
    counted,
    settings_from_env,
)
from govledger.ledger import events as ev
from govledger.ledger.store import Store
from govledger.projections.database import ViewDatabase, set_position
from tests.conftest import RunningGateway, free_port
from tests.integration.exporters.support import CONFIG, chat, sample, scrape
from tests.integration.exporters.test_poison_events import admitted, poisoned_store

NATS_SERVER = shutil.which("nats-server") or (
    "/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None
)
pytestmark = pytest.mark.skipif(
    NATS_SERVER is None, reason="nats-server is not installed (apt-get install nats-server)"
)
nats = pytest.importorskip("nats", reason="nats-py is not installed (pip install govledger[nats])")


class NatsServer:
    """A nats-server with JetStream on a free port, its store in a temp dir."""

    def __init__(self, store_dir: Path) -> None:
        self.port = free_port()
        self.store_dir = store_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert NATS_SERVER is not None
        self.process = subprocess.Popen(
            [
                NATS_SERVER,
                "-js",
                "-sd",
                str(self.store_dir),
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nats-server did not start in 10 s")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    running = NatsServer(tmp_path / "js")
    running.start()
    yield running
    running.kill()


class Clock:
    """A clock the test moves (the exporter's backoff reads it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def stream_messages(url: str, stream: str = "GOVLEDGER") -> list[tuple[str, str, dict[str, Any]]]:
    """(subject, Nats-Msg-Id, payload) of every message in the stream, in stream order."""

    async def read() -> list[tuple[str, str, dict[str, Any]]]:
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            info = await js.stream_info(stream)
            found = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                msg = await js.get_msg(stream, seq)
                headers = msg.headers or {}
                found.append((msg.subject, headers.get("Nats-Msg-Id", ""), json.loads(msg.data)))
            return found
        finally:
            await nc.close()

    return asyncio.run(read())


def ids_of(events: list[ev.LedgerEvent]) -> list[str]:
    return [f"{e.originator_id}:{e.originator_version}" for e in events]


def test_events_arrive_with_their_ids_and_subjects_and_a_poison_event_is_degraded(
    server: NatsServer, sqlite_url: str
) -> None:
    store, events = poisoned_store(sqlite_url)
    db = ViewDatabase(sqlite_url)
    db.create()
    exporter = NatsExport("usage", NatsSettings(url=server.url, in_flight=2))
    try:
        assert consume(store, db, exporter) == len(events)
        assert db.position("nats_export", "usage") == store.max_position("usage")
    finally:
        exporter.close()
        db.close()
        store.close()
    messages = stream_messages(server.url)
    assert [msg_id for _, msg_id, _ in messages] == ids_of(events)
    assert [subject for subject, _, _ in messages] == [
        "govledger.usage.RequestAdmitted",
        "govledger.usage.RequestAdmitted",
        "govledger.usage.RequestRejected",
        "govledger.usage.RequestAdmitted",
        "govledger.usage.RequestAdmitted",
    ]
    poison = messages[1][2]
    assert poison["event"]["action"] == "event.unrenderable"
    assert poison["govledger"]["event_type"] == "RequestAdmitted"
    assert messages[0][2]["event"]["action"] == "request.admitted"
    assert exporter.unrenderable == 1 and exporter.published == len(events)


def test_a_resend_after_a_crash_before_the_commit_is_deduplicated(
    server: NatsServer, sqlite_url: str
) -> None:
    store, events = poisoned_store(sqlite_url)
    db = ViewDatabase(sqlite_url)
    db.create()
    first = NatsExport("usage", NatsSettings(url=server.url))
    again = NatsExport("usage", NatsSettings(url=server.url))
    try:
        consume(store, db, first)
        # The crash: acks received, position never committed; a new process starts at 0.
        with db.transaction() as cur:
            set_position(cur, "nats_export", "usage", 0)
        assert consume(store, db, again) == len(events)
        assert again.duplicates == len(events) and again.published == 0
    finally:
        first.close()
        again.close()
        db.close()
        store.close()
    assert [msg_id for _, msg_id, _ in stream_messages(server.url)] == ids_of(events)


def test_the_server_down_then_back_loses_nothing_and_keeps_the_order(
    server: NatsServer, sqlite_url: str
) -> None:
    store, events = poisoned_store(sqlite_url)
    db = ViewDatabase(sqlite_url)
    db.create()
    clock = Clock()
    exporter = NatsExport("usage", NatsSettings(url=server.url), clock=clock)
    later: list[ev.LedgerEvent] = [admitted("m2", n) for n in range(1, 21)]
    try:
        consume(store, db, exporter)
        server.kill()
        store.usage.recorder.insert_events([store.usage.mapper.to_stored_event(e) for e in later])
        head = store.max_position("usage")
        with pytest.raises(NatsPublishError):
            consume(store, db, exporter, batch_size=7)
        assert exporter.errors == 1 and db.position("nats_export", "usage") < head
        with pytest.raises(NatsPublishError, match="backing off"):
            consume(store, db, exporter, batch_size=7)  # inside the backoff: no connect
        server.start()  # same port, same store directory
        clock.now += 60
        assert consume(store, db, exporter, batch_size=7) == len(later)
        assert db.position("nats_export", "usage") == head
    finally:
        exporter.close()
        db.close()
        store.close()
    assert [msg_id for _, msg_id, _ in stream_messages(server.url)] == ids_of(events + later)


def test_an_existing_stream_is_used_and_the_prefix_and_name_are_configurable(
    server: NatsServer, sqlite_url: str
) -> None:
    async def create() -> None:
        nc = await nats.connect(server.url)
        await nc.jetstream().add_stream(name="AUDIT", subjects=["acme.>"])
        await nc.close()

    asyncio.run(create())
    store, events = poisoned_store(sqlite_url)
    db = ViewDatabase(sqlite_url)
    db.create()
    exporter = NatsExport("usage", NatsSettings(url=server.url, prefix="acme.gl", stream="AUDIT"))
    try:
        consume(store, db, exporter)
    finally:
        exporter.close()
        db.close()
        store.close()
    messages = stream_messages(server.url, "AUDIT")
    assert [msg_id for _, msg_id, _ in messages] == ids_of(events)
    assert messages[2][0] == "acme.gl.usage.RequestRejected"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"GOVLEDGER_NATS_URL": "http://user:hunter2@host:4222"}, "GOVLEDGER_NATS_URL"),
        ({"GOVLEDGER_NATS_URL": "nats://user:hunter2@host:99999"}, "GOVLEDGER_NATS_URL"),
        ({"GOVLEDGER_NATS_URL": "nats://:hunter2@/"}, "GOVLEDGER_NATS_URL"),
        ({"GOVLEDGER_NATS_PREFIX": "gov.>"}, "GOVLEDGER_NATS_PREFIX"),
        ({"GOVLEDGER_NATS_PREFIX": "a..b"}, "GOVLEDGER_NATS_PREFIX"),
        ({"GOVLEDGER_NATS_STREAM": "my stream"}, "GOVLEDGER_NATS_STREAM"),
        ({"GOVLEDGER_NATS_STREAM": "x" * 65}, "GOVLEDGER_NATS_STREAM"),
        ({"GOVLEDGER_NATS_RETENTION": "forever"}, "GOVLEDGER_NATS_RETENTION"),
        ({"GOVLEDGER_NATS_IN_FLIGHT": "0"}, "GOVLEDGER_NATS_IN_FLIGHT"),
        ({"GOVLEDGER_NATS_IN_FLIGHT": "lots"}, "GOVLEDGER_NATS_IN_FLIGHT"),
        ({"GOVLEDGER_NATS_MAX_AGE_S": "-1"}, "GOVLEDGER_NATS_MAX_AGE_S"),
    ],
)
def test_hostile_settings_are_refused_naming_the_setting_not_its_value(
    env: dict[str, str], named: str
) -> None:
    environ = {"GOVLEDGER_NATS_URL": "nats://127.0.0.1:4222", **env}
    with pytest.raises(NatsConfigError) as caught:
        settings_from_env(environ)
    assert named in str(caught.value) and "hunter2" not in str(caught.value)


def test_the_url_may_be_a_secret_reference() -> None:
    environ = {"GOVLEDGER_NATS_URL": "env.NATS_SECRET_URL", "NATS_SECRET_URL": "nats://h:4222"}
    settings = settings_from_env(environ)
    assert callable(settings.url) and settings.url() == "nats://h:4222"


def test_the_projection_process_runs_one_nats_consumer_per_log(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from govledger.exporters.registry import tails

    monkeypatch.setenv("GOVLEDGER_NATS_URL", "nats://127.0.0.1:4222")
    store = Store(sqlite_url)
    try:
        running = tails(store, sqlite_url)
        nats_consumers = [t.consumer for t in running if isinstance(t.consumer, NatsExport)]
        assert [c.app for c in nats_consumers] == ["governance", "usage"]
        for c in nats_consumers:
            c.close()
        for t in running:
            t.db.close()
    finally:
        store.close()


def test_a_gateway_shows_the_fan_out_on_metrics_equal_to_what_jetstream_holds(
    server: NatsServer,
    gateway_factory: Callable[..., RunningGateway],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOVLEDGER_NATS_URL", server.url)
    gateway = gateway_factory(CONFIG)
    chat(gateway, 3)
    deadline = time.monotonic() + 30
    while True:
        text = scrape(gateway)
        held = [s for s, _, _ in stream_messages(server.url) if s.startswith("govledger.usage.")]
        lag = sample(text, "govledger_consumer_lag_events", consumer="nats_export", app="usage")
        published = sample(text, "govledger_nats_published_total", app="usage")
        if lag == 0 and held and published == len(held):
            break
        assert time.monotonic() < deadline, f"lag {lag}, published {published}, held {len(held)}"
        time.sleep(0.2)
    assert held.count("govledger.usage.RequestSettled") == 3
    assert sample(text, "govledger_nats_duplicates_total", app="usage") == 0
    assert sample(text, "govledger_nats_published_total", app="governance") is not None


KILLED_AFTER_THE_ACKS = """
import os, signal, sys
from govledger.exporters.consumer import consume
from govledger.exporters.nats_export import NatsExport, NatsSettings
from govledger.ledger.store import Store
from govledger.projections.database import ViewDatabase

class DiesAfterSecondBatch(NatsExport):
    batches = 0
    async def _publish(self, messages):
        counts = await super()._publish(messages)
        self.batches += 1
        if self.batches == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # acked; the position never commits
        return counts

url, nats_url = sys.argv[1], sys.argv[2]
store = Store(url)
db = ViewDatabase(url)
db.create()
consume(store, db, DiesAfterSecondBatch("usage", NatsSettings(url=nats_url)), batch_size=2)
"""


def test_an_exporter_killed_between_the_acks_and_its_commit_sends_each_event_once(
    server: NatsServer, sqlite_url: str
) -> None:
    store, events = poisoned_store(sqlite_url)
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_THE_ACKS, sqlite_url, server.url],
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
        timeout=60,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    db = ViewDatabase(sqlite_url)
    again = NatsExport("usage", NatsSettings(url=server.url))
    try:
        assert db.position("nats_export", "usage") == 2  # the first batch of two committed
        assert consume(store, db, again, batch_size=2) == len(events) - 2
        assert again.duplicates == 2  # the second batch, acked before the kill, re-sent
        with db.transaction() as cur:
            # Committed with the positions: the batch stored before the kill is counted once,
            # as the duplicates of its re-send; published + duplicates = every event once.
            assert counted(cur) == [("usage", len(events) - 2, 2, 1)]  # one poison event
    finally:
        again.close()
        db.close()
        store.close()
    assert [msg_id for _, msg_id, _ in stream_messages(server.url)] == ids_of(events)
