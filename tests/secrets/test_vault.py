"""Vault specifics against a real OpenBao dev server: AppRole login with a narrow policy,
a refusal outside it, a pinned version, and a login lost and made again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from govledger.ledger.secrets.references import Reference, parse_reference
from govledger.ledger.secrets.resolver import SecretUnavailableError
from govledger.ledger.secrets.vault import VaultResolver
from tests.secrets.conftest import Manager, _vault

POLICY = 'path "secret/data/llm/*" { capabilities = ["read"] }'


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[Manager]:
    """A real OpenBao dev server (root token `root`)."""
    made = _vault(tmp_path)
    yield next(made)
    for _ in made:
        pass


def approle(addr: str) -> dict[str, str]:
    """Enable AppRole, make a role reading secret/llm/* only; its login settings."""
    import hvac

    root = hvac.Client(url=addr, token="root")
    root.sys.enable_auth_method("approle")
    root.sys.create_or_update_policy("llm-read", POLICY)
    root.auth.approle.create_or_update_approle("gateway", token_policies=["llm-read"])
    role_id = root.auth.approle.read_role_id("gateway")["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id("gateway")["data"]["secret_id"]
    root.secrets.kv.v2.create_or_update_secret(
        path="other/db", secret={"password": "not-for-the-gateway"}, mount_point="secret"
    )
    return {"VAULT_ADDR": addr, "VAULT_ROLE_ID": role_id, "VAULT_SECRET_ID": secret_id}


def ref(text: str) -> Reference:
    """A parsed reference."""
    parsed = parse_reference(text)
    assert parsed is not None
    return parsed


def test_approle_reads_what_its_policy_allows_and_nothing_else(vault: Manager) -> None:
    vault.put("sk-approle-1")
    resolver = VaultResolver(approle(vault.env["VAULT_ADDR"]))
    assert resolver.fetch(ref(vault.reference)) == "sk-approle-1"
    with pytest.raises(SecretUnavailableError, match="Vault refused to read secret/other/db"):
        resolver.fetch(ref("vault.secret/other/db#password"))
    assert resolver.fetch(ref(vault.reference)) == "sk-approle-1"  # logged in again


def test_a_pinned_version_stays_while_the_current_one_moves(vault: Manager) -> None:
    vault.put("sk-v1")
    vault.put("sk-v2")
    resolver = VaultResolver(vault.env)
    assert resolver.fetch(ref(vault.reference)) == "sk-v2"
    assert resolver.fetch(ref(vault.reference + "?version=1")) == "sk-v1"
    with pytest.raises(SecretUnavailableError, match="has no field 'other'"):
        resolver.fetch(ref("vault.secret/llm/openai#other"))


def test_no_credentials_is_one_clear_line(vault: Manager) -> None:
    resolver = VaultResolver({"VAULT_ADDR": vault.env["VAULT_ADDR"]})
    with pytest.raises(SecretUnavailableError) as caught:
        resolver.fetch(ref(vault.reference))
    assert str(caught.value) == (
        "no Vault credentials: set VAULT_TOKEN, VAULT_ROLE_ID and VAULT_SECRET_ID,"
        " or VAULT_K8S_ROLE"
    )
