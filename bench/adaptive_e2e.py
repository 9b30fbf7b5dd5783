"""Adaptive routing at wall-clock speed through a real gateway (docs/performance.md).

Three fake upstreams of equal configured weight (the gateway's own and two more), one
adaptive key, the OpenAI SDK sending about 25 requests/s. Phases: 0-30 s all healthy;
30-90 s route b answers 20 % of requests 503 (`fail_rate`); 90-150 s b healthy again;
150-210 s route c 10x slower (500 ms against 50 ms). Prints each route's share of first
attempts per 10 s window, read from the settled events.

Run from the repository root: `PYTHONPATH=. .venv/bin/python bench/adaptive_e2e.py`.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from govledger.ledger import events as ev
from govledger.proxy.fake_upstream.server import build_app
from tests.conftest import start_gateway
from tests.e2e.openai_support import async_client, hi, make_config, provider, serve, virtual_key

Phase = tuple[float, dict[str, dict[str, float]]]
PHASES: list[Phase] = [
    (0, {}),
    (30, {"b": {"fail_rate": 0.2}}),
    (90, {"b": {"fail_rate": 0.0}}),
]
SLOW: Phase = (150, {"c": {"latency_ms": 500}, "a": {"latency_ms": 50}, "b": {"latency_ms": 50}})
END = 210


def control(url: str, **settings: Any) -> None:
    """Change a fake upstream while it runs."""
    request = urllib.request.Request(
        f"{url}/__mock/control", json.dumps(settings).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=5):  # noqa: S310
        pass


async def drive(gateway: Any, urls: dict[str, str], start: float) -> None:
    """Send requests until END, switching the upstreams at each phase."""
    phases = [*PHASES, SLOW]
    async with async_client(gateway) as sdk:

        async def worker() -> None:
            while time.monotonic() - start < END:
                try:
                    await sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=5)
                except Exception as error:  # noqa: BLE001 - counted, the run goes on
                    print("refused:", type(error).__name__, str(error)[:80])
                await asyncio.sleep(0.15)

        async def switcher() -> None:
            for at, change in phases:
                await asyncio.sleep(max(0.0, start + at - time.monotonic()))
                for name, settings in change.items():
                    control(urls[name], **settings)
                print(f"{at:>4} s: {change or 'all healthy'}", flush=True)

        await asyncio.gather(switcher(), *(worker() for _ in range(6)))


def main() -> None:
    """Run the phases and print the shares."""
    with tempfile.TemporaryDirectory() as tmp, serve(build_app()) as b, serve(build_app()) as c:
        config = make_config(
            providers=[provider("a"), provider("b", f"{b}/v1"), provider("c", f"{c}/v1")],
            keys=[virtual_key(providers=("a", "b", "c"), routing="adaptive")],
        )
        gateway = start_gateway(f"sqlite:///{tmp}/ledger.sqlite", config, Path(tmp))
        urls = {"a": gateway.upstream_url, "b": b, "c": c}
        for url in urls.values():
            control(url, latency_ms=50)
        wall = time.time()
        asyncio.run(drive(gateway, urls, time.monotonic()))
        settled = [
            e
            for _, e in gateway.runtime.store.iterate("usage")
            if isinstance(e, ev.RequestSettled) and e.attempts
        ]
        changes = [
            e
            for _, e in gateway.runtime.store.iterate("usage")
            if isinstance(e, ev.RouteStateChanged)
        ]
        gateway.stop()
    print(f"{len(settled)} requests settled, {sum(e.status != 'ok' for e in settled)} not ok")
    for window in range(0, END, 10):
        inside = [e for e in settled if window <= e.timestamp.timestamp() - wall < window + 10]
        firsts = [e.attempts[0]["provider"] for e in inside]
        shares = {n: firsts.count(n) / len(firsts) for n in "abc"} if firsts else {}
        text = "  ".join(f"{n} {s:.3f}" for n, s in shares.items())
        print(f"{window:>4}-{window + 10:<4} s  n={len(firsts):<4} {text}")
    for change in changes:
        at = change.timestamp.timestamp() - wall
        print(
            f"{at:8.2f} s  {change.route_provider}: {change.previous} -> {change.state}"
            f" ({change.why})"
        )


if __name__ == "__main__":
    main()
