"""NATS JetStream fan-out throughput: N usage events published from a SQLite store to a
local nats-server, wall and CPU seconds of the exporter process, beside the SIEM file export
of the same events (a ratio, since the machine is shared).

    python bench/nats_export.py 20000 /tmp/natsbench
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from govledger.exporters.consumer import consume
from govledger.exporters.nats_export import NatsExport, NatsSettings
from govledger.exporters.siem_export import SiemExport
from govledger.exporters.siem_sinks import open_sink
from govledger.ledger.store import Store
from govledger.projections.database import ViewDatabase
from tests.integration.exporters.test_poison_events import admitted


def main(n: int, work: Path) -> None:
    url = f"sqlite:///{work}/ledger.sqlite"
    store = Store(url)
    events = [admitted("m1", i) for i in range(n)]
    store.usage.recorder.insert_events([store.usage.mapper.to_stored_event(e) for e in events])
    db = ViewDatabase(url)
    db.create()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        ["nats-server", "-js", "-sd", str(work / "js"), "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.0)
        for name, consumer in (
            ("siem ecs to a file", SiemExport("usage", "ecs", open_sink(f"file://{work}/s.jsonl"))),
            ("nats jetstream", NatsExport("usage", NatsSettings(url=f"nats://127.0.0.1:{port}"))),
        ):
            wall, cpu = time.perf_counter(), time.process_time()
            done = consume(store, db, consumer, batch_size=1000)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(
                f"{name}: {done} events, {wall:.2f} s wall ({done / wall:,.0f}/s), "
                f"{cpu:.2f} s exporter CPU ({cpu / done * 1e6:.0f} us/event)"
            )
            if isinstance(consumer, NatsExport):
                consumer.close()
    finally:
        server.kill()
        server.wait()
        db.close()
        store.close()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000, Path(tmp))
