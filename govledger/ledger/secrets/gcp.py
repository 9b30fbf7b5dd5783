"""Google Secret Manager through `google-cloud-secret-manager` and Application Default
Credentials."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from govledger.ledger.secrets.references import Reference
from govledger.ledger.secrets.resolver import SecretUnavailableError, one_line


@dataclass
class GcpResolver:
    """`gcp-sm.projects/<p>/secrets/<s>[/versions/<v>]` (default `latest`).

    GOVLEDGER_GCP_SM_ENDPOINT sends the client's REST transport elsewhere (with anonymous
    credentials when GOVLEDGER_GCP_SM_ANONYMOUS=1: a local stand-in)."""

    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    timeout_s: float = 5.0
    _client: Any = None

    def _connect(self) -> Any:
        from google.cloud import secretmanager

        endpoint = self.environ.get("GOVLEDGER_GCP_SM_ENDPOINT")
        if not endpoint:
            return secretmanager.SecretManagerServiceClient()
        credentials = None
        if self.environ.get("GOVLEDGER_GCP_SM_ANONYMOUS") == "1":
            from google.auth.credentials import AnonymousCredentials

            credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
        return secretmanager.SecretManagerServiceClient(
            credentials=credentials, transport="rest", client_options={"api_endpoint": endpoint}
        )

    def fetch(self, ref: Reference) -> str:
        """The payload of the version, as UTF-8 text."""
        from google.api_core import exceptions

        name = f"projects/{ref.scope}/secrets/{ref.name}/versions/{ref.version or 'latest'}"
        try:
            if self._client is None:
                self._client = self._connect()
            answer = self._client.access_secret_version(
                name=name, timeout=self.timeout_s, retry=None
            )
        except exceptions.NotFound:
            raise SecretUnavailableError(
                f"no secret version {name} in Google Secret Manager"
            ) from None
        except exceptions.PermissionDenied:
            raise SecretUnavailableError(f"Google Secret Manager refused to read {name}") from None
        except Exception as error:  # unreachable, unavailable, no credentials
            raise SecretUnavailableError(
                f"Google Secret Manager unreachable: {one_line(error)}"
            ) from None
        return bytes(answer.payload.data).decode("utf-8")
