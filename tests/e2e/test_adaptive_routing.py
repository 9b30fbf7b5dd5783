"""Adaptive routing through the OpenAI SDK against real gateways and fake upstreams: a route
answering 429 with Retry-After is cooled, probed and brought back; its state changes are
events; /api/routes, /metrics and `govledger routes` show it; two instances on one store
compute the same health."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from govledger.ledger import events as ev
from govledger.proxy.cli.main import app as cli
from govledger.proxy.fake_upstream.server import build_app
from tests.conftest import RunningGateway
from tests.e2e.management.support import ADMIN, Api
from tests.e2e.openai_support import (
    HELLO,
    async_client,
    client,
    hi,
    make_config,
    of_type,
    provider,
    serve,
    settled_for,
    virtual_key,
    wait_until,
)

Factory = Callable[..., RunningGateway]
B_ROUTE = ("b", "b-key", "m1")


def adaptive_config(b_url: str, c_url: str) -> dict[str, Any]:
    """Three providers of equal weight on one adaptive key."""
    return make_config(
        providers=[provider("a"), provider("b", f"{b_url}/v1"), provider("c", f"{c_url}/v1")],
        keys=[
            virtual_key(
                providers=("a", "b", "c"),
                routing="adaptive",
            )
        ],
    )


def control(url: str, **settings: Any) -> None:
    """Change a fake upstream's behaviour while it runs."""
    body = json.dumps(settings).encode()
    request = urllib.request.Request(f"{url}/__mock/control", body, method="POST")
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
        assert answer.status == 200


async def traffic(gateway: RunningGateway, seconds: float, parallel: int = 4) -> int:
    """Send chat requests for `seconds`; every one must be answered (failover meanwhile)."""
    deadline = time.monotonic() + seconds
    sent = 0
    async with async_client(gateway) as sdk:

        async def worker() -> None:
            nonlocal sent
            while time.monotonic() < deadline:
                reply = await sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=5)
                assert reply.choices[0].message.content == HELLO
                sent += 1
                await asyncio.sleep(0.02)

        await asyncio.gather(*(worker() for _ in range(parallel)))
    return sent


def changes_of_b(gateway: RunningGateway) -> list[ev.RouteStateChanged]:
    """Route b's recorded state changes, in log order."""
    found = of_type(gateway, ev.RouteStateChanged)
    return [e for e in found if e.route_provider == "b"]


async def test_a_429_with_retry_after_is_cooled_probed_recovered_and_shown(
    gateway_factory: Factory, store_url: str
) -> None:
    with serve(build_app()) as b_url, serve(build_app()) as c_url:
        config = adaptive_config(b_url, c_url)
        first = gateway_factory(config, database_url=store_url, admin_token=ADMIN)
        second = gateway_factory(config, database_url=store_url)
        assert await traffic(first, 1.5) > 0

        control(b_url, retry_after_s=4)
        await traffic(first, 5.5)
        control(b_url, retry_after_s=None)
        await traffic(first, 5.0)
        back = ("recovering", "healthy")
        for _ in range(20):  # b recovers on probes: keep traffic flowing until it is back
            if back in [(e.previous, e.state) for e in changes_of_b(first)]:
                break
            await traffic(first, 1.0)
        wait_until(
            lambda: back in [(e.previous, e.state) for e in changes_of_b(first)], 5, "b back"
        )

        kinds = [(e.previous, e.state) for e in changes_of_b(first)]
        assert kinds[:2] == [("healthy", "failed"), ("failed", "recovering")]
        assert kinds[-1] == back  # probes during the 429s fail it again; after them, healthy
        failed, recovering = changes_of_b(first)[:2]
        cooled_s = (recovering.timestamp - failed.timestamp).total_seconds()
        assert 2.5 <= cooled_s <= 5.0, cooled_s  # Retry-After 4 s from the last 429 seen
        # No request was sent to b between the tick that saw the 429 and the cool-down's end.
        settled = of_type(first, ev.RequestSettled)
        quiet = [
            e
            for e in settled
            if failed.timestamp.timestamp() + 1.0 < e.timestamp.timestamp()
            and e.timestamp.timestamp() < recovering.timestamp.timestamp() - 0.05
        ]
        assert quiet, "requests were answered while b cooled"
        assert not [e for e in quiet if any(a["provider"] == "b" for a in e.attempts)]
        last = settled[-1].timestamp.timestamp()
        answered_by_b = [
            e for e in settled if e.provider == "b" and e.timestamp.timestamp() > last - 3
        ]
        assert answered_by_b, "b is back in the rotation"

        api = Api(first.url)
        shown = api.get("/api/routes?virtual_key=k1&model=m1")
        assert shown.status == 200, shown.text
        rows = {(r["provider"], r["key_id"], r["model"]): r for r in shown.json["routes"]}
        assert set(rows) == {("a", "a-key", "m1"), B_ROUTE, ("c", "c-key", "m1")}
        shares = shown.json["virtual_key"]["shares"]
        assert shown.json["virtual_key"]["routing"] == "adaptive"
        assert abs(sum(s["effective"] for s in shares) - 1) < 1e-9
        assert api.get("/api/routes?model=m1").status == 422  # names the missing virtual_key

        metrics = urllib.request.urlopen(f"{first.url}/metrics", timeout=5).read().decode()  # noqa: S310
        assert 'govledger_route_state{key="b-key",model="m1",provider="b",state=' in metrics
        assert "govledger_route_weight_factor{" in metrics

        result = CliRunner().invoke(
            cli, ["routes", "--url", first.url, "--token", ADMIN, "--key", "k1", "--model", "m1"]
        )
        assert result.exit_code == 0, result.output
        assert "b-key" in result.output and "adaptive" in result.output

        # The other instance read the same events from the shared log: the same health.
        def same() -> bool:
            now = time.time() + 1.0  # a tick both reach with every event settled
            mine = first.runtime.usage.routes
            theirs = second.runtime.usage.routes
            return bool(mine.health(now)) and mine.health(now) == theirs.health(now)

        await asyncio.sleep(1.5)  # the second instance's tail catches up
        assert same()
        # The state changes were written once, whoever recorded them.
        ids = [e.originator_id for e in of_type(first, ev.RouteStateChanged)]
        assert len(ids) == len(set(ids))


def mock_stats(url: str) -> dict[str, Any]:
    """A fake upstream's counters, arrival times and 429 times."""
    with urllib.request.urlopen(f"{url}/__mock/stats", timeout=5) as answer:  # noqa: S310
        stats: dict[str, Any] = json.loads(answer.read())
    return stats


async def test_the_instance_that_sees_a_429_sends_its_route_nothing_until_retry_after(
    gateway_factory: Factory, store_url: str
) -> None:
    with serve(build_app()) as b_url, serve(build_app()) as c_url:
        gateway = gateway_factory(adaptive_config(b_url, c_url), database_url=store_url)
        client(gateway).chat.completions.create(model="m1", messages=hi(), max_tokens=5)
        await traffic(gateway, 2.0)
        wait_until(lambda: mock_stats(b_url)["requests"] > 0, 10, "b's share before")

        control(b_url, retry_after_s=5)
        await traffic(gateway, 3.5)
        control(b_url, retry_after_s=None)  # so the probe after the cool-down succeeds
        first = min(mock_stats(b_url)["rate_limited_at"])

        def probed() -> bool:
            return any(t >= first + 5.0 for t in mock_stats(b_url)["arrivals"])

        for _ in range(30):  # a generous deadline: the probe share is small, the machine loaded
            if probed():
                break
            await traffic(gateway, 1.0)
        stats = mock_stats(b_url)

    after = sorted(t for t in stats["arrivals"] if t > first)
    window = [t for t in after if t < first + 5.0]
    # Only requests already on their way when the first 429 came back (one per other worker)
    # reach b after it (bound: 1 s, generous for a loaded machine; 0.0 s measured); from then
    # until its Retry-After ends, b receives nothing.
    assert len(window) <= 3, [round(t - first, 3) for t in window]
    assert all(t < first + 1.0 for t in window), [round(t - first, 3) for t in window]
    probes = [t for t in after if t >= first + 5.0]
    assert probes, "b was probed after its Retry-After"
    assert probes[0] < first + 5.0 + 30.0
    changes = [(e.previous, e.state) for e in changes_of_b(gateway)]
    assert changes[0] == ("healthy", "failed")  # still recorded, for the other instances


async def test_a_weighted_key_keeps_its_configured_chain_after_a_429(
    gateway_factory: Factory,
) -> None:
    with serve(build_app()) as b_url, serve(build_app()) as c_url:
        config = adaptive_config(b_url, c_url)
        config["virtual_keys"][0]["routing"] = "weighted"
        gateway = gateway_factory(config)
        control(b_url, retry_after_s=5)
        for _ in range(20):  # a generous deadline: until b got requests well after its first 429
            await traffic(gateway, 1.0)
            stats = mock_stats(b_url)
            first = min(stats["rate_limited_at"], default=time.time())
            if any(t > first + 1.0 for t in stats["arrivals"]):
                break

    first = min(stats["rate_limited_at"])
    later = [t for t in stats["arrivals"] if first + 0.5 < t < first + 5.0]
    assert later, "weighted routing follows the configured weights, 429s or not"


def group_figures_of_metrics(url: str) -> dict[tuple[str, ...], float]:
    """The effective weight per (group, provider, key, model) in /metrics."""
    text = urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()  # noqa: S310
    return {
        (s.labels["group"], s.labels["provider"], s.labels["key"], s.labels["model"]): s.value
        for family in text_string_to_metric_families(text)
        if family.name == "govledger_route_effective_weight"
        for s in family.samples
    }


def group_figures(rows: list[dict[str, Any]]) -> dict[tuple[str, ...], float]:
    """The same figures from the management API's (or the CLI's) group rows."""
    return {(r["group"], r["provider"], r["key_id"], r["model"]): r["effective"] for r in rows}


async def test_metrics_api_and_cli_show_the_same_effective_weights_per_routing_group(
    gateway_factory: Factory,
) -> None:
    with serve(build_app()) as b_url, serve(build_app()) as c_url:
        config = adaptive_config(b_url, c_url)
        second = virtual_key("k2", "sk-bf-second-key-0002", ("a", "b", "c"), routing="adaptive")
        config["virtual_keys"].append(second)
        config["virtual_keys"].append(
            virtual_key("k3", "sk-bf-third-key-00003", ("a", "b"), routing="adaptive")
        )
        config["adaptive"] = {"cooldown_s": 60}  # b stays cooling while the figures are read
        gateway = gateway_factory(config, admin_token=ADMIN)
        control(b_url, fail_rate=1.0)  # b answers 503: it fails, and gets no share
        for _ in range(20):  # until b has failed (a generous deadline: the machine is loaded)
            await traffic(gateway, 1.0)
            health = gateway.runtime.usage.routes.health(time.time())
            if health.get(B_ROUTE) and health[B_ROUTE].state == "failed":
                break

        def agreed() -> dict[tuple[str, ...], float] | None:
            metrics = group_figures_of_metrics(gateway.url)
            api = group_figures(Api(gateway.url).get("/api/routes").json["groups"])
            shown = CliRunner().invoke(cli, ["routes", "--url", gateway.url, "--token", ADMIN,
                                             "--json"])  # fmt: skip
            assert shown.exit_code == 0, shown.output
            cli_figures = group_figures(json.loads(shown.output)["groups"])
            return metrics if metrics and metrics == api == cli_figures else None

        figures = wait_until(agreed, 20, "the same figures in /metrics, the API and the CLI")
    assert {g for g, *_ in figures} == {"k1", "k3"}  # k1 and k2 share their routes: one group
    assert figures[("k1", "b", "b-key", "m1")] == 0.0
    assert figures[("k3", "b", "b-key", "m1")] == 0.0
    assert abs(sum(v for k, v in figures.items() if k[0] == "k1") - 1) < 1e-5
    assert figures[("k3", "a", "a-key", "m1")] == 1.0


def test_a_stream_records_its_time_after_the_first_byte_for_route_latency(
    gateway_factory: Factory,
) -> None:
    gateway = gateway_factory(make_config())
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="m1", messages=hi(), max_tokens=5, stream=True
    )
    request_id = raw.headers["x-govledger-request-id"]
    assert "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)

    answered = settled_for(gateway, request_id).attempts[-1]
    assert answered["status"] == 200 and answered["stream_ms"] >= 0
    health = gateway.runtime.usage.routes.health(time.time() + 1.0)
    route = health[("mock", "mock-key", "m1")]
    assert route.latency_ms is not None
    assert route.first_token_ms is not None and route.per_token_ms is not None
    assert route.plain_ms is None
