"""A config file manages only what it declares: keys made through the API or the CLI survive
a restart of `serve --config`, and each entity says who manages it."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import start_gateway
from tests.e2e.management.support import ADMIN, CONFIG, Api

KEYS = "/api/governance/virtual-keys"


def test_keys_made_through_the_api_survive_a_restart_with_the_config(
    store_url: str, tmp_path: Path
) -> None:
    first = start_gateway(store_url, CONFIG, tmp_path, admin_token=ADMIN)
    try:
        api = Api(first.url)
        body = {"name": "rest", "provider_configs": [{"provider": "mock"}]}
        made = api.post(KEYS, {**body, "id": "from-rest"})
        by_cli = api.post(KEYS, {**body, "id": "from-cli"}, headers={"x-govledger-client": "cli"})
        assert (made.status, made.json["managed_by"]) == (201, "api")
        assert by_cli.json["managed_by"] == "cli"
        assert api.get("/api/governance/providers/mock").json["managed_by"] == "config"
    finally:
        first.stop()

    second = start_gateway(store_url, CONFIG, tmp_path, admin_token=ADMIN)
    try:
        api = Api(second.url)
        for key_id, manager in (("from-rest", "api"), ("from-cli", "cli")):
            shown = api.get(f"{KEYS}/{key_id}").json
            assert (shown["is_active"], shown["managed_by"], shown["version"]) == (
                True,
                manager,
                1,
            )
        assert Api(second.url, made.json["value"]).get("/v1/models").status == 200
    finally:
        second.stop()
