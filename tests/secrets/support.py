"""A gateway whose secret resolvers the test hands in, and a webhook sink for its alerts."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import uvicorn

from govledger.ledger.config import parse_config
from govledger.ledger.secrets.managers import Managers
from tests.conftest import RunningGateway, _with_mock_port, free_port
from tests.e2e.management.support import ADMIN
from tests.secrets.conftest import Manager


def provider_config(reference: str) -> dict[str, Any]:
    """One openai provider whose only key is `reference`, one virtual key routed to it."""
    return {
        "providers": [
            {
                "name": "vendor",
                "type": "openai",
                "base_url": "{MOCK}/v1",
                "keys": [{"id": "vendor-key", "value": reference}],
            }
        ],
        "pricing_overrides": [
            {"provider": "openai", "model": "m1", "input_per_mtok": "1", "output_per_mtok": "2"}
        ],
        "virtual_keys": [
            {
                "id": "k1",
                "name": "k1",
                "value": KEY,
                "provider_configs": [{"provider": "vendor"}],
            }
        ],
    }


KEY = "sk-bf-secrets-e2e-0123456789abcdef"


def start(
    manager: Manager | None,
    tmp_path: Path,
    config: dict[str, Any],
    database_url: str | None = None,
) -> RunningGateway:
    """Start a gateway (fake upstream beside it) whose resolvers include the manager's."""
    from govledger.proxy.server.app import create_app
    from govledger.proxy.server.settings import Settings

    mock_port = free_port()
    settings = Settings(
        database_url=database_url or f"sqlite:///{tmp_path}/ledger.sqlite",
        instance="secrets",
        secret_key_file=tmp_path / "secret.key",
        mock_upstream_port=mock_port,
        upstream_timeout_s=10,
        admin_token=ADMIN,
    )
    app = create_app(settings, parse_config(_with_mock_port(config, mock_port)))
    app.state.runtime.managers = Managers(resolvers=dict(manager.resolvers if manager else {}))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the gateway did not start")
        time.sleep(0.02)
    return RunningGateway(
        f"http://127.0.0.1:{port}", f"http://127.0.0.1:{mock_port}", server, thread, app
    )


class WebhookSink:
    """Receives the gateway's alert webhooks (200 to each) and keeps their JSON bodies."""

    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("Content-Length", 0))
                sink.got.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, kind: str, seconds: float = 20.0) -> dict[str, Any]:
        """The first alert of a type (`secret.unavailable`), waiting at most `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for body in list(self.got):
                if body.get("type") == kind:
                    return body
            time.sleep(0.05)
        raise AssertionError(f"no {kind} alert within {seconds} s; got {self.got}")

    def stop(self) -> None:
        """Stop receiving."""
        self.server.shutdown()
        self.server.server_close()
