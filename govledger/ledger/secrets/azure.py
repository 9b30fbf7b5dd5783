"""Azure Key Vault through `azure-keyvault-secrets` and `DefaultAzureCredential`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from govledger.ledger.secrets.references import Reference
from govledger.ledger.secrets.resolver import SecretUnavailableError, one_line


@dataclass
class AzureResolver:
    """`azure-kv.<vault-name>/<secret>[/<version>]` from `https://<vault>.vault.azure.net`.

    GOVLEDGER_AZURE_KV_URL (an https URL template with `{vault}`) points elsewhere (a private
    endpoint or a stand-in: the challenge's resource is then not checked against the host),
    GOVLEDGER_AZURE_KV_CA_BUNDLE trusts a CA of its own; `credential` is
    DefaultAzureCredential unless one is handed in."""

    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    credential: Any = None
    timeout_s: float = 5.0
    _clients: dict[str, Any] = field(default_factory=dict)

    def _client(self, vault: str) -> Any:
        if vault not in self._clients:
            from azure.keyvault.secrets import SecretClient

            if self.credential is None:
                from azure.identity import DefaultAzureCredential

                self.credential = DefaultAzureCredential()
            template = self.environ.get("GOVLEDGER_AZURE_KV_URL", "")
            url = (template or "https://{vault}.vault.azure.net").format(vault=vault)
            extra: dict[str, Any] = {}
            if self.environ.get("GOVLEDGER_AZURE_KV_CA_BUNDLE"):
                extra["connection_verify"] = self.environ["GOVLEDGER_AZURE_KV_CA_BUNDLE"]
            self._clients[vault] = SecretClient(
                url,
                self.credential,
                verify_challenge_resource=not template,
                retry_total=0,
                connection_timeout=self.timeout_s,
                read_timeout=self.timeout_s,
                **extra,
            )
        return self._clients[vault]

    def fetch(self, ref: Reference) -> str:
        """The secret's current (or pinned) value."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            secret = self._client(ref.scope).get_secret(ref.name, ref.version or None)
        except ResourceNotFoundError:
            raise SecretUnavailableError(f"no secret {ref.name} in Key Vault {ref.scope}") from None
        except Exception as error:  # unreachable, refused, no credential
            raise SecretUnavailableError(
                f"Azure Key Vault unreachable: {one_line(error)}"
            ) from None
        if secret.value is None:
            raise SecretUnavailableError(f"{ref.name} in Key Vault {ref.scope} has no value")
        return str(secret.value)
