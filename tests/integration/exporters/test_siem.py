"""SIEM export: every format free of secrets, a time range replayed, the tracked consumer
resuming without loss, and the sinks against real receivers (rsyslog, HTTP)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from typer.testing import CliRunner

from govledger.exporters.consumer import consume
from govledger.exporters.siem_export import SiemExport
from govledger.exporters.siem_sinks import (
    FileSink,
    HttpSink,
    Line,
    SinkError,
    SyslogSink,
    open_sink,
)
from govledger.ledger.config import parse_config
from govledger.ledger.credentials import SecretBox
from govledger.ledger.governance import GovernanceLedger
from govledger.ledger.store import Store
from govledger.projections.database import ViewDatabase
from govledger.proxy.cli.main import app
from tests.conftest import RunningGateway, free_port
from tests.integration.exporters.support import CONFIG, KEY, PROVIDER_SECRET, chat, refused
from tests.loops import close_loop

ADMIN = "gl-admin-exporters-test-token-0123456789"


def governance_events(url: str, tmp_path: Path, changes: int = 3) -> int:
    """Apply the config and change the team `changes` times; returns the log's length."""
    config = json.loads(json.dumps(CONFIG).replace("{MOCK}", "http://127.0.0.1:9"))
    store = Store(url)
    ledger = GovernanceLedger(store, SecretBox.from_environment_or_file(tmp_path / "secret.key"))
    ledger.apply(parse_config(config), "alice", "cli")
    for n in range(changes):
        team = {**config["teams"][0], "name": f"Platform {n}"}
        ledger.apply(parse_config({**config, "teams": [team]}), "bob", "cli")
    head = store.max_position("governance")
    store.close()
    return head


def export(url: str, *args: str) -> list[str]:
    """Run `govledger export ARGS` and return the records it printed on stdout."""
    result = CliRunner().invoke(app, ["export", *args], env={"GOVLEDGER_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    return [line for line in result.stdout.splitlines() if line]


def test_no_format_carries_a_virtual_key_provider_key_or_admin_token_value(
    gateway_factory: Callable[..., RunningGateway], sqlite_url: str
) -> None:
    gateway = gateway_factory(CONFIG, sqlite_url, admin_token=ADMIN)
    chat(gateway, 2)
    refused(gateway)
    gateway.stop()
    store = Store(sqlite_url)
    total = store.max_position("governance") + store.max_position("usage")
    store.close()

    outputs = {fmt: export(sqlite_url, "--format", fmt) for fmt in ("ecs", "ocsf", "cef")}

    for fmt, lines in outputs.items():
        text = "\n".join(lines)
        assert len(lines) == total, fmt
        for secret in (KEY, PROVIDER_SECRET, ADMIN, KEY[-12:], ADMIN[-12:], PROVIDER_SECRET[-12:]):
            assert secret not in text, f"{fmt} carries a secret"
    ecs = [json.loads(line) for line in outputs["ecs"]]
    ocsf = [json.loads(line) for line in outputs["ocsf"]]
    assert len({r["event"]["id"] for r in ecs}) == total
    assert {r["event"]["action"] for r in ecs} >= {"request.settled", "request.rejected"}
    assert all(r["class_uid"] == 6003 for r in ocsf)
    assert all(r["type_uid"] == 6003 * 100 + r["activity_id"] for r in ocsf)
    assert {r["activity_id"] for r in ocsf} >= {1, 99}
    assert all(re.match(r"CEF:0\|govledger\|govledger\|[^|]+\|[^|]+\|", c) for c in outputs["cef"])
    assert [r["metadata"]["uid"] for r in ocsf] == [r["event"]["id"] for r in ecs]


def test_a_time_range_selects_its_events_and_progress_goes_to_stderr(
    sqlite_url: str, tmp_path: Path
) -> None:
    head = governance_events(sqlite_url, tmp_path)
    runner = CliRunner()
    env = {"GOVLEDGER_DATABASE_URL": sqlite_url}

    everything = export(sqlite_url, "--from", "2000-01-01", "--format", "ecs")
    future = export(sqlite_url, "--from", "2999-01-01")
    past = export(sqlite_url, "--to", "2000-01-01T00:00:00+00:00")
    shown = runner.invoke(app, ["export", "--format", "cef"], env=env)

    assert len(everything) == head
    assert future == [] and past == []
    assert "exported" in shown.stderr and "exported" not in shown.stdout


class FlakySink:
    """Delivers to a file, then fails once after delivering its `fail_at`-th batch."""

    def __init__(self, path: Path, fail_at: int) -> None:
        self.file = FileSink(path)
        self.sends = 0
        self.fail_at = fail_at

    def send(self, lines: Sequence[Line]) -> None:
        self.file.send(lines)
        self.sends += 1
        if self.sends == self.fail_at:
            raise SinkError("the process died before its position was committed")

    def close(self) -> None:
        self.file.close()


def test_the_tracked_export_resumes_and_the_receiver_can_deduplicate(
    store_url: str, tmp_path: Path
) -> None:
    head = governance_events(store_url, tmp_path, changes=6)
    out = tmp_path / "siem.jsonl"
    store = Store(store_url)
    db = ViewDatabase(store_url)
    db.create()
    flaky = FlakySink(out, fail_at=2)
    with pytest.raises(SinkError):
        consume(store, db, SiemExport("governance", "ecs", flaky), batch_size=3)
    flaky.close()
    position_after_crash = db.position("siem_ecs", "governance")
    sink = FileSink(out)
    consume(store, db, SiemExport("governance", "ecs", sink), batch_size=3)
    again = consume(store, db, SiemExport("governance", "ecs", sink), batch_size=3)
    sink.close()
    db.close()
    store.close()

    ids = [json.loads(line)["event"]["id"] for line in out.read_text().splitlines()]
    assert position_after_crash == 3
    assert again == 0
    assert len(set(ids)) == head  # nothing lost
    assert len(ids) == head + 3  # only the batch delivered before the "crash" came twice


@pytest.fixture
def rsyslog(tmp_path: Path) -> Iterator[tuple[int, int, Path]]:
    """A real rsyslogd listening on TCP and UDP ports, writing what it gets to a file."""
    binary = shutil.which("rsyslogd")
    if binary is None:
        pytest.skip("rsyslogd is absent (Debian package `rsyslog`)")
    tcp, udp, out = free_port(), free_port(), tmp_path / "received.log"
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(
        f'global(workDirectory="{tmp_path}")\n'
        'module(load="imtcp")\nmodule(load="imudp")\n'
        f'input(type="imtcp" port="{tcp}" address="127.0.0.1")\n'
        f'input(type="imudp" port="{udp}" address="127.0.0.1")\n'
        'template(name="raw" type="string" '
        'string="%protocol-version% %app-name% %msgid% %structured-data% %msg%\\n")\n'
        f'*.* action(type="omfile" file="{out}" template="raw")\n'
    )
    process = subprocess.Popen(
        [binary, "-n", "-f", str(conf), "-i", str(tmp_path / "rsyslog.pid")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # wait until the TCP input listens
        try:
            import socket

            socket.create_connection(("127.0.0.1", tcp), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield tcp, udp, out
    process.terminate()
    process.wait(timeout=10)


def received(out: Path, count: int) -> list[str]:
    """Wait until the receiver's file holds `count` lines."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        lines = out.read_text().splitlines() if out.exists() else []
        if len(lines) >= count:
            return lines
        time.sleep(0.1)
    raise AssertionError(f"rsyslog received {out.read_text() if out.exists() else ''!r}")


def test_rsyslog_receives_rfc5424_messages_over_tcp_and_udp(
    rsyslog: tuple[int, int, Path],
) -> None:
    tcp, udp, out = rsyslog
    lines: list[Line] = [("stream-a:1", '{"n":1}'), ("stream-a:2", "CEF:0|a|b|c|d|e|3|x=y")]

    for transport, port in (("tcp", tcp), ("udp", udp)):
        sink = open_sink(f"syslog+{transport}://127.0.0.1:{port}")
        assert isinstance(sink, SyslogSink)
        sink.send(lines)
        sink.close()
    got = received(out, 4)

    assert all("] \ufeff" in line for line in got)  # MSG is UTF-8 with its BOM
    assert sorted(line.replace("\ufeff", "") for line in got) == sorted(
        [
            '1 govledger event [govledger@32473 id="stream-a:1"] {"n":1}',
            '1 govledger event [govledger@32473 id="stream-a:2"] CEF:0|a|b|c|d|e|3|x=y',
        ]
        * 2
    )


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local aiohttp receiver that answers 503 to its first request, then 200."""
    got: list[dict[str, Any]] = []
    port = free_port()
    ready = threading.Event()
    loop = asyncio.new_event_loop()

    async def take(request: web.Request) -> web.Response:
        got.append(
            {"path": request.path, "headers": dict(request.headers), "body": await request.text()}
        )
        return web.Response(status=503 if len(got) == 1 else 200)

    async def serve() -> web.AppRunner:
        application = web.Application()
        application.router.add_post("/{tail:.*}", take)
        runner = web.AppRunner(application, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner

    def run() -> None:
        asyncio.set_event_loop(loop)
        runner = loop.run_until_complete(serve())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        close_loop(loop)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    yield f"127.0.0.1:{port}", got
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)


def test_splunk_hec_gets_the_token_header_and_retries_after_a_503(
    receiver: tuple[str, list[dict[str, Any]]],
) -> None:
    address, got = receiver
    sink = open_sink(f"splunk+http://{address}", {"GOVLEDGER_SPLUNK_HEC_TOKEN": "hec-token"})
    assert isinstance(sink, HttpSink)
    sink.backoff_s = 0.01

    sink.send([("s:1", '{"a":1}'), ("s:2", "CEF:0|x")])

    assert len(got) == 2  # the 503, then the retry
    assert got[1]["path"] == "/services/collector/event"
    assert got[1]["headers"]["Authorization"] == "Splunk hec-token"
    events = [json.loads(line) for line in got[1]["body"].splitlines()]
    assert events == [
        {
            "event": {"a": 1},
            "sourcetype": "govledger",
            "source": "govledger",
            "fields": {"event_id": "s:1"},
        },
        {
            "event": "CEF:0|x",
            "sourcetype": "govledger",
            "source": "govledger",
            "fields": {"event_id": "s:2"},
        },
    ]


def test_the_https_sink_posts_json_lines_with_a_bearer_token(
    receiver: tuple[str, list[dict[str, Any]]],
) -> None:
    address, got = receiver
    sink = open_sink(f"http://{address}/ingest", {"GOVLEDGER_EXPORT_HTTP_TOKEN": "bearer-1"})
    assert isinstance(sink, HttpSink)
    sink.backoff_s = 0.01

    sink.send([("s:1", '{"a":1}'), ("s:2", '{"a":2}')])

    assert got[-1]["path"] == "/ingest"
    assert got[-1]["headers"]["Authorization"] == "Bearer bearer-1"
    assert got[-1]["body"] == '{"a":1}\n{"a":2}\n'


def test_a_refused_batch_is_not_retried_and_raises(
    receiver: tuple[str, list[dict[str, Any]]],
) -> None:
    address, got = receiver
    sink = HttpSink(f"http://{address}/x", attempts=1)

    with pytest.raises(SinkError, match="HTTP 503"):
        sink.send([("s:1", "{}")])


def test_a_gateway_with_a_siem_sink_exports_both_logs_as_they_grow(
    gateway_factory: Callable[..., RunningGateway],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "live.jsonl"
    monkeypatch.setenv("GOVLEDGER_SIEM_SINK", f"file://{out}")
    monkeypatch.setenv("GOVLEDGER_SIEM_FORMAT", "ocsf")
    gateway = gateway_factory(CONFIG)
    chat(gateway, 2)

    deadline = time.monotonic() + 20
    operations: list[str] = []
    while time.monotonic() < deadline:
        lines = out.read_text().splitlines() if out.exists() else []
        operations = [json.loads(line)["api"]["operation"] for line in lines]
        if operations.count("request.settled") == 2:
            break
        time.sleep(0.1)

    assert operations.count("request.settled") == 2
    assert "virtual_key.created" in operations


KILLED_AFTER_DELIVERY = """
import os, signal, sys
from pathlib import Path
from govledger.exporters.consumer import consume
from govledger.exporters.siem_export import SiemExport
from govledger.exporters.siem_sinks import FileSink
from govledger.ledger.store import Store
from govledger.projections.database import ViewDatabase

class DiesAfterSecondBatch(FileSink):
    sends = 0
    def send(self, lines):
        super().send(lines)
        self.sends += 1
        if self.sends == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # delivered; the position never commits

url, out = sys.argv[1], Path(sys.argv[2])
store = Store(url)
db = ViewDatabase(url)
db.create()
consume(store, db, SiemExport("governance", "ecs", DiesAfterSecondBatch(out)), batch_size=3)
"""


def test_a_consumer_killed_between_delivery_and_its_position_commit_loses_nothing(
    sqlite_url: str, tmp_path: Path
) -> None:
    head = governance_events(sqlite_url, tmp_path, changes=6)
    out = tmp_path / "siem.jsonl"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_DELIVERY, sqlite_url, str(out)],
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
        timeout=60,
    )
    store = Store(sqlite_url)
    db = ViewDatabase(sqlite_url)
    resumed_from = db.position("siem_ecs", "governance")
    sink = FileSink(out)
    consume(store, db, SiemExport("governance", "ecs", sink), batch_size=3)
    sink.close()
    db.close()
    store.close()

    ids = [json.loads(line)["event"]["id"] for line in out.read_text().splitlines()]
    assert killed.returncode == -9, killed.stderr
    assert resumed_from == 3  # the second batch was delivered but not recorded
    assert len(set(ids)) == head  # nothing lost
    assert len(ids) == head + 3  # the killed batch twice: the receiver dedupes by id
