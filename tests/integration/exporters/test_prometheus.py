"""GET /metrics: counters folded from the stream equal the ledger, survive a restart, pass
promtool, and a real Prometheus server scrapes them."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from govledger.ledger import events as ev
from govledger.ledger.store import Store
from tests.conftest import RunningGateway, free_port
from tests.integration.exporters.support import CONFIG, chat, refused, sample, scrape, wait_for

OK = {"surface": "openai_chat", "provider": "mock", "model": "m1", "outcome": "ok"}


def ledger_cost(url: str) -> Decimal:
    """The sum of every settled request's cost, read from the event store."""
    store = Store(url)
    try:
        return sum(
            (e.cost for _, e in store.iterate("usage") if isinstance(e, ev.RequestSettled)),
            Decimal(0),
        )
    finally:
        store.close()


def promtool_check(text: str) -> None:
    """Run `promtool check metrics` on an exposition (skipped where promtool is absent)."""
    if shutil.which("promtool") is None:
        return
    done = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_counters_equal_the_ledger_pass_promtool_and_survive_a_restart(
    gateway_factory: Callable[..., RunningGateway], store_url: str
) -> None:
    gateway = gateway_factory(CONFIG, store_url)
    chat(gateway, 3)
    refused(gateway)
    text = wait_for(gateway, "govledger_requests_total", 3, **OK)
    text = wait_for(gateway, "govledger_rejections_total", 1, reason="virtual_key_not_found")

    assert sample(text, "govledger_cost_usd_total", provider="mock", model="m1") == float(
        ledger_cost(store_url)
    )
    assert sample(text, "govledger_tokens_total", direction="output") == 15
    assert sample(text, "govledger_upstream_latency_seconds_count", provider="mock") == 3
    assert sample(text, "govledger_budget_limit_usd", budget="team:platform#1d") == 5
    assert sample(text, "govledger_budget_settled_usd", budget="customer:acme#1M") == float(
        ledger_cost(store_url)
    )
    assert sample(text, "govledger_budget_limit_usd", level="virtual_key") is None  # capped at 0
    assert sample(text, "govledger_budget_series_capped") == 1
    assert sample(text, "govledger_ledger_commit_seconds_count", app="usage") is not None
    assert sample(text, "govledger_writer_batch_events_count", app="usage") is not None
    promtool_check(text)

    gateway.stop()
    again = gateway_factory(CONFIG, store_url)
    wait_for(again, "govledger_consumer_lag_events", 0, consumer="audit_chain", app="governance")
    text = wait_for(again, "govledger_consumer_lag_events", 0, consumer="metrics", app="usage")

    assert sample(text, "govledger_requests_total", **OK) == 3
    assert sample(text, "govledger_cost_usd_total", provider="mock") == float(
        ledger_cost(store_url)
    )


def test_key_budgets_appear_only_when_configured_and_up_to_the_cap(
    gateway_factory: Callable[..., RunningGateway],
) -> None:
    gateway = gateway_factory(CONFIG, metrics_key_budgets=5)

    text = scrape(gateway)

    assert sample(text, "govledger_budget_limit_usd", budget="virtual_key:exp#1d") == 1
    assert sample(text, "govledger_budget_series_capped") == 0


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Start a real Prometheus scraping a target every second; yields a starter."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("the prometheus binary is absent (Debian package `prometheus`)")
    started: list[subprocess.Popen[bytes]] = []

    def start(target: str) -> str:
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            f"  - job_name: govledger\n    static_configs: [{{targets: ['{target}']}}]\n"
        )
        port = free_port()
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append(process)
        return f"http://127.0.0.1:{port}"

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=20)


def query(base: str, expr: str) -> list[dict[str, object]]:
    """The result vector of an instant query against Prometheus's HTTP API."""
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
        body = json.loads(response.read())
    return list(body["data"]["result"])


def test_a_real_prometheus_scrapes_the_gateway_and_answers_a_query(
    gateway_factory: Callable[..., RunningGateway], prometheus: Callable[[str], str]
) -> None:
    gateway = gateway_factory(CONFIG)
    chat(gateway, 2)
    wait_for(gateway, "govledger_requests_total", 2, **OK)
    base = prometheus(gateway.url.removeprefix("http://"))

    deadline = time.monotonic() + 60
    result: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        try:
            result = query(base, 'sum(govledger_requests_total{outcome="ok"})')
        except OSError:
            result = []  # not listening yet
        if result:
            break
        time.sleep(0.5)

    assert result, "Prometheus never returned the figure"
    assert result[0]["value"][1] == "2"  # type: ignore[index]
