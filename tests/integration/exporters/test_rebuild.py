"""`govledger rebuild` beside the exporters, on both stores, with the gateway running or not:
/metrics comes back to the same figures, the audit chain and the deliveries are kept."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from govledger.exporters import metrics_fold
from govledger.exporters.consumer import consume
from govledger.exporters.metrics_fold import COUNTERS, HISTOGRAMS, MetricsFold
from govledger.ledger.store import Store
from govledger.projections.database import ViewDatabase
from govledger.proxy.cli.main import app
from tests.conftest import RunningGateway
from tests.integration.exporters.alert_support import Receiver, serving
from tests.integration.exporters.support import CONFIG, chat, refused, scrape
from tests.integration.workload import Requests

SECRET = "whsec_" + "c2VjcmV0LXJlYnVpbGQtdGVzdA=="
COST = 0.000011  # what one `chat` costs at these prices (the fake upstream answers the same)
LIMIT = f"{COST * 5.5:.7f}"  # 3 chats cross 50 %, 5 chats cross 80 %, none reach 100 %
KEY = {
    **CONFIG["virtual_keys"][0],
    "budgets": [{"max_limit": LIMIT, "reset_duration": "1d", "mode": "optimistic"}],
}
ALERTING = {**CONFIG, "virtual_keys": [KEY]}
KEPT = {"audit_chain", "siem_ecs", "alerts", "alerts_governance"}
REFOLDED = {"audit", "usage", "metrics"}
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver for the alert channel."""
    with serving(Receiver()) as target:
        yield target


def cli(url: str, *args: str) -> Any:
    """Run a govledger command against the store."""
    return CliRunner().invoke(app, list(args), env={"GOVLEDGER_DATABASE_URL": url})


def status(url: str) -> dict[str, Any]:
    """`govledger status --json`."""
    result = cli(url, "status", "--json")
    assert result.exit_code == 0, result.output
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def drained(url: str, seconds: float = 30) -> dict[str, Any]:
    """Wait (bounded) until every tracked reader, views and consumers, has lag 0.

    Twice in a row with the same heads: `status` reads the heads before the positions, and
    the alert consumer appends its delivery events before its own position commits, so
    one report can show lag 0 while a delivery event is still unread.
    """
    deadline = time.monotonic() + seconds
    last: dict[str, Any] | None = None
    while True:
        report = status(url)
        names = {p["name"] for p in report["projections"]}
        lags = [p["lag"] for p in report["projections"]]
        if names >= KEPT | REFOLDED and all(lag == 0 for lag in lags):
            if last is not None and last["events"] == report["events"]:
                return report
            last = report
        else:
            last = None
        if time.monotonic() > deadline:
            raise AssertionError(f"lag did not drain in {seconds}s: {report['projections']}")
        time.sleep(0.1)


def stream_samples(text: str) -> Samples:
    """The samples /metrics folds from the stream (counters and histograms)."""
    families = set(COUNTERS) | set(HISTOGRAMS)
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        if family.name in families:
            for s in family.samples:
                found[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    return found


def total(samples: Samples, name: str) -> float:
    """The sum of one sample name over every label set."""
    return sum(v for (n, _), v in samples.items() if n == name)


def table(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of a query on the views' database."""
    db = ViewDatabase(url)
    try:
        return [tuple(r) for r in db.query(sql)]
    finally:
        db.close()


def kept_rows(url: str) -> list[tuple[Any, ...]]:
    """The tracking rows a rebuild must not touch."""
    rows = table(url, "SELECT view, app, position FROM gl_tracking ORDER BY view, app")
    return [r for r in rows if r[0] in KEPT]


def reference_metrics(url: str, tmp_path: Path) -> list[tuple[Any, ...]]:
    """gl_metrics as a fresh fold of the whole usage log, in batches of 3, elsewhere."""
    reference = ViewDatabase(f"sqlite:///{tmp_path}/reference/ledger.sqlite")
    store = Store(url)
    try:
        reference.create()
        metrics_fold.create_tables(reference)
        consume(store, reference, MetricsFold(), batch_size=3)
        return [tuple(r) for r in reference.query("SELECT * FROM gl_metrics ORDER BY 1, 2")]
    finally:
        reference.close()
        store.close()


def siem_ids(path: Path) -> list[str]:
    """The event id of every record the SIEM file sink received."""
    return [json.loads(line)["event"]["id"] for line in path.read_text().splitlines() if line]


def thresholds(receiver: Receiver) -> list[int]:
    """The budget levels alerted, in the order received."""
    return [
        b["data"]["threshold_percent"]
        for b in receiver.bodies()
        if b["type"] == "budget.threshold_crossed"
    ]


@pytest.mark.parametrize("mode", ["stopped", "running", "running with traffic"])
def test_rebuild_gives_the_same_metrics_and_never_resets_the_chain_or_delivers_again(
    mode: str,
    store_url: str,
    tmp_path: Path,
    gateway_factory: Callable[..., RunningGateway],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    siem = tmp_path / "siem.jsonl"
    monkeypatch.setenv("GOVLEDGER_SIEM_SINK", f"file://{siem}")
    monkeypatch.setenv("GOVLEDGER_ALERT_WEBHOOK_URL", receiver.url())
    monkeypatch.setenv("GOVLEDGER_ALERT_WEBHOOK_SECRET", SECRET)
    gateway = gateway_factory(ALERTING, store_url)
    chat(gateway, 3)
    refused(gateway)
    drained(store_url)
    before = stream_samples(scrape(gateway))
    chain = table(store_url, "SELECT * FROM gl_audit_chain ORDER BY position")
    kept = kept_rows(store_url)
    assert cli(store_url, "audit", "verify").exit_code == 0
    assert thresholds(receiver) == [50]

    def refuse_five() -> None:
        for _ in range(5):
            refused(gateway)

    during = threading.Thread(target=refuse_five)
    if mode == "stopped":
        gateway.stop()
        kept = kept_rows(store_url)  # a clean stop may append (allotments given back)
    if mode == "running with traffic":
        during.start()
    rebuilt = cli(store_url, "rebuild")
    if mode == "running with traffic":
        during.join()
    else:
        assert kept_rows(store_url) == kept  # read at once: not reset, not moved
    assert rebuilt.exit_code == 0, rebuilt.output
    assert rebuilt.stdout.startswith("rebuilt audit, usage, metrics from event 1: ")
    assert "kept at their position: " in rebuilt.stdout and "audit_chain" in rebuilt.stdout
    if mode == "stopped":
        gateway = gateway_factory(ALERTING, store_url)
    drained(store_url)
    if mode != "running with traffic":
        assert stream_samples(scrape(gateway)) == before

    chat(gateway, 2)
    drained(store_url)
    after = stream_samples(scrape(gateway))
    verified = cli(store_url, "audit", "verify")
    heads = status(store_url)["events"]

    rejected = 1 + (5 if mode == "running with traffic" else 0)
    requests = "govledger_requests_total"
    assert total(after, requests) == total(before, requests) + 2 + (rejected - 1)
    assert total(after, "govledger_rejections_total") == rejected
    assert total(after, "govledger_tokens_total") == total(before, "govledger_tokens_total") * 5 / 3
    assert table(store_url, "SELECT * FROM gl_metrics ORDER BY 1, 2") == reference_metrics(
        store_url, tmp_path
    )
    assert verified.exit_code == 0, verified.output
    assert verified.stdout.startswith(f"audit chain intact: {heads['governance']} event(s)")
    chained = table(store_url, "SELECT * FROM gl_audit_chain ORDER BY position")
    assert chained[: len(chain)] == chain  # the evidence is extended, never rewritten
    ids = siem_ids(siem)
    assert len(ids) == len(set(ids)) == heads["governance"] + heads["usage"]
    delivered = [r["headers"]["webhook-id"] for r in receiver.got]
    assert len(delivered) == len(set(delivered))
    assert thresholds(receiver) == [50, 80]


def test_the_metrics_fold_gives_the_same_figures_however_the_log_is_cut_into_batches(
    store_url: str, tmp_path: Path
) -> None:
    store = Store(store_url)
    store.usage.save(*Requests(seed=5).mixed(300))
    places = {
        1: f"sqlite:///{tmp_path}/one/x.sqlite",
        7: store_url,
        1000: f"sqlite:///{tmp_path}/k/x",
    }
    figures = []
    for size, url in places.items():
        db = ViewDatabase(url)
        db.create()
        metrics_fold.create_tables(db)
        consume(store, db, MetricsFold(), batch_size=size)
        figures.append([tuple(r) for r in db.query("SELECT * FROM gl_metrics ORDER BY 1, 2")])
        db.close()
    store.close()

    assert figures[0] == figures[1] == figures[2]
    cost = [value for name, _, value in figures[0] if name == "govledger_cost_usd_total"]
    assert cost and not float(cost[0]).is_integer()
