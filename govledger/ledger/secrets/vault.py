"""HashiCorp Vault / OpenBao KV v2 through `hvac`: token, AppRole or Kubernetes auth."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from govledger.ledger.secrets.references import Reference
from govledger.ledger.secrets.resolver import SecretUnavailableError, one_line

K8S_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


@dataclass
class VaultResolver:
    """`vault.<mount>/<path>#<field>[?version=n]` read with `hvac` from VAULT_ADDR.

    Authentication, first that applies: VAULT_TOKEN; AppRole (VAULT_ROLE_ID and
    VAULT_SECRET_ID, mount VAULT_APPROLE_MOUNT); Kubernetes (VAULT_K8S_ROLE with the
    service-account token, mount VAULT_K8S_MOUNT). A lost login is retried on the next fetch.
    """

    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    timeout_s: float = 5.0
    _client: Any = None

    def _login(self) -> Any:
        import hvac

        env = self.environ
        url = env.get("VAULT_ADDR", "http://127.0.0.1:8200")
        client = hvac.Client(url=url, namespace=env.get("VAULT_NAMESPACE"), timeout=self.timeout_s)
        if env.get("VAULT_TOKEN"):
            client.token = env["VAULT_TOKEN"]
        elif env.get("VAULT_ROLE_ID") and env.get("VAULT_SECRET_ID"):
            client.auth.approle.login(
                role_id=env["VAULT_ROLE_ID"],
                secret_id=env["VAULT_SECRET_ID"],
                mount_point=env.get("VAULT_APPROLE_MOUNT", "approle"),
            )
        elif env.get("VAULT_K8S_ROLE"):
            with open(env.get("VAULT_K8S_TOKEN_PATH", K8S_TOKEN), encoding="utf-8") as file:
                jwt = file.read().strip()
            client.auth.kubernetes.login(
                env["VAULT_K8S_ROLE"], jwt, mount_point=env.get("VAULT_K8S_MOUNT", "kubernetes")
            )
        else:
            raise SecretUnavailableError(
                "no Vault credentials: set VAULT_TOKEN, VAULT_ROLE_ID and VAULT_SECRET_ID,"
                " or VAULT_K8S_ROLE"
            )
        return client

    def fetch(self, ref: Reference) -> str:
        """The field of the secret's current (or pinned) version."""
        import hvac.exceptions

        try:
            if self._client is None:
                self._client = self._login()
            answer = self._client.secrets.kv.v2.read_secret_version(
                path=ref.name,
                mount_point=ref.scope,
                version=int(ref.version) if ref.version else None,
                raise_on_deleted_version=True,
            )
        except hvac.exceptions.InvalidPath:
            raise SecretUnavailableError(f"no secret {ref.scope}/{ref.name} in Vault") from None
        except hvac.exceptions.Forbidden:
            self._client = None  # the token may have expired: log in again next time
            raise SecretUnavailableError(f"Vault refused to read {ref.scope}/{ref.name}") from None
        except SecretUnavailableError:
            raise
        except Exception as error:  # connection refused, timeout, 5xx: the manager is down
            self._client = None
            raise SecretUnavailableError(f"Vault unreachable: {one_line(error)}") from None
        data = answer.get("data", {}).get("data") or {}
        if ref.field not in data:
            raise SecretUnavailableError(f"{ref.scope}/{ref.name} has no field {ref.field!r}")
        return str(data[ref.field])
