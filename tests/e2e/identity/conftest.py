"""Fixtures of the identity tests: a real OpenID Connect provider and a gateway that trusts it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import (
    RunningGateway,
)
from tests.e2e.identity.idp import CLIENT_ID, IdentityProvider, identity_provider
from tests.e2e.management.conftest import gateway_on
from tests.e2e.management.support import CONFIG, Api

SECRET_VARIABLE = "GOVLEDGER_TEST_OIDC_CLIENT_SECRET"


@pytest.fixture(scope="module")
def idp() -> Iterator[IdentityProvider]:
    """The identity provider, one per module; the client secret is in the environment (the
    config names it `env.…`, as a real one must)."""
    os.environ[SECRET_VARIABLE] = "client-secret-of-the-tests"
    try:
        with identity_provider() as provider:
            yield provider
    finally:
        os.environ.pop(SECRET_VARIABLE, None)


def sso_config(idp: IdentityProvider) -> dict[str, Any]:
    """The gateway config: one provider, groups mapped to roles and teams."""
    return {
        **CONFIG,
        "teams": [
            {
                "id": "platform",
                "name": "Platform",
                "personal_keys": {
                    "providers": ["mock"],
                    "models": ["m1"],
                    "max_budget": "1",
                    "max_days": 30,
                    "max_keys": 2,
                },
            }
        ],
        "sso": {
            "providers": [
                {
                    "name": "mock",
                    "issuer": idp.issuer,
                    "client_id": CLIENT_ID,
                    "client_secret": f"env.{SECRET_VARIABLE}",
                    "role_mappings": {
                        "gl-admins": "Admin",
                        "gl-devs": "Developer",
                        "gl-viewers": "Viewer",
                    },
                    "team_mappings": [
                        {"group": "platform-eng", "team": "platform"},
                        {"group": "ml-eng", "team": "ml", "create": True},
                    ],
                }
            ]
        },
    }


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def gateway(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    idp: IdentityProvider,
) -> Iterator[RunningGateway]:
    """One gateway per module and store, trusting the provider."""
    yield from gateway_on(request.param, tmp_path_factory.mktemp("identity"), sso_config(idp))


@pytest.fixture
def api(gateway: RunningGateway) -> Api:
    """A client with the Admin token."""
    return Api(gateway.url)
