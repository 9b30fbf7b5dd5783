"""AWS Secrets Manager through `boto3` and its default credential chain."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from govledger.ledger.secrets.references import Reference
from govledger.ledger.secrets.resolver import SecretUnavailableError, one_line


@dataclass
class AwsResolver:
    """`aws-sm.<name-or-arn>[#<json field>][?version=<id>]`; AWS_ENDPOINT_URL (read by boto3
    itself) or GOVLEDGER_AWS_SM_ENDPOINT points elsewhere than AWS."""

    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    timeout_s: float = 5.0
    _client: Any = None

    def _connect(self) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(
            connect_timeout=self.timeout_s,
            read_timeout=self.timeout_s,
            retries={"max_attempts": 1, "mode": "standard"},
        )
        return boto3.client(
            "secretsmanager",
            endpoint_url=self.environ.get("GOVLEDGER_AWS_SM_ENDPOINT") or None,
            region_name=self.environ.get("AWS_REGION") or self.environ.get("AWS_DEFAULT_REGION"),
            config=config,
        )

    def fetch(self, ref: Reference) -> str:
        """The secret string (or one field of it, when it is a JSON object)."""
        from botocore.exceptions import ClientError

        try:
            if self._client is None:
                self._client = self._connect()
            extra = {"VersionId": ref.version} if ref.version else {}
            answer = self._client.get_secret_value(SecretId=ref.name, **extra)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                raise SecretUnavailableError(
                    f"no secret {ref.name} in AWS Secrets Manager"
                ) from None
            raise SecretUnavailableError(
                f"AWS Secrets Manager: {code or one_line(error)}"
            ) from None
        except Exception as error:  # endpoint unreachable, no credentials, timeout
            raise SecretUnavailableError(
                f"AWS Secrets Manager unreachable: {one_line(error)}"
            ) from None
        text = answer.get("SecretString")
        if text is None:
            raise SecretUnavailableError(f"{ref.name} holds binary data, not a string")
        if not ref.field:
            return str(text)
        try:
            value = json.loads(text)[ref.field]
        except (ValueError, KeyError, TypeError):
            raise SecretUnavailableError(
                f"{ref.name} is not a JSON object with a field {ref.field!r}"
            ) from None
        return str(value)
