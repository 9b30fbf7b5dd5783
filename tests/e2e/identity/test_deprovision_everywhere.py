"""Deprovisioning on one instance stops the user's key on another within a second
(two gateways on one PostgreSQL store; the second learns it from the governance tail)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.clocks import ShiftedClock
from tests.conftest import POSTGRES_URL, RunningGateway, create_database, drop_database
from tests.conftest import start_gateway as start
from tests.e2e.identity import scim_bodies as bodies
from tests.e2e.identity.conftest import sso_config
from tests.e2e.identity.idp import IdentityProvider
from tests.e2e.management.support import ADMIN, Api

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="GOVLEDGER_TEST_POSTGRES_URL is not set")


@pytest.fixture
def pair(tmp_path: Path, idp: IdentityProvider) -> Iterator[tuple[RunningGateway, RunningGateway]]:
    """Two instances on one fresh PostgreSQL store."""
    url = create_database()
    first = start(url, sso_config(idp), tmp_path / "a", admin_token=ADMIN, clock=ShiftedClock())
    second = start(
        url,
        sso_config(idp),
        tmp_path / "b",
        admin_token=ADMIN,
        clock=ShiftedClock(),
        instance="second",
        secret_key_file=tmp_path / "a" / "secret.key",  # instances share the master key
    )
    yield first, second
    second.stop()
    first.stop()
    drop_database(url)


def chat(gateway: RunningGateway, key: str) -> int:
    answer = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": "m1", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5},
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    )
    return answer.status_code


def until(probe: object, seconds: float) -> float:
    """Seconds until `probe()` is true (polled every 10 ms), or an AssertionError."""
    started = time.monotonic()
    while not probe():  # type: ignore[operator]
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.01)
    return time.monotonic() - started


def test_a_deactivated_users_key_stops_on_the_other_instance_within_a_second(
    pair: tuple[RunningGateway, RunningGateway],
) -> None:
    first, second = pair
    api = Api(first.url)
    made = api.post(
        "/scim/v2/Users",
        bodies.okta_create(f"l.{uuid.uuid4().hex[:6]}@example.com", "x"),
        headers={"content-type": "application/scim+json"},
    )
    assert made.status == 201, made.text
    user_id = made.json["id"]
    key = api.post(
        "/api/governance/virtual-keys",
        {
            "id": "k-leaver",
            "name": "k",
            "user_id": user_id,
            "provider_configs": [{"provider": "mock"}],
        },
    ).json["value"]
    until(lambda: chat(second, key) == 200, 10.0)  # the second instance knows the key
    off = api.call(
        "PATCH",
        f"/scim/v2/Users/{user_id}",
        bodies.okta_deactivate(),
        headers={"content-type": "application/scim+json"},
    )
    assert off.status == 200, off.text
    took = until(lambda: chat(second, key) in (401, 403), 1.0)
    print(f"the second instance refused the key {took * 1000:.0f} ms after deprovisioning")
