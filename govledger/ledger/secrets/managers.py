"""The resolver of each manager, built on first use (a vendor library loads only if needed)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from govledger.ledger.secrets.references import EXTRAS, Reference, ReferenceError, parse_reference
from govledger.ledger.secrets.resolver import Resolver, SecretUnavailableError


def _build(manager: str, environ: Mapping[str, str]) -> Resolver:
    if manager == "env":
        from govledger.ledger.secrets.local import EnvResolver

        return EnvResolver(environ)
    if manager == "file":
        from govledger.ledger.secrets.local import FileResolver

        return FileResolver()
    if manager == "vault":
        from govledger.ledger.secrets.vault import VaultResolver

        return VaultResolver(environ)
    if manager == "aws-sm":
        from govledger.ledger.secrets.aws import AwsResolver

        return AwsResolver(environ)
    if manager == "gcp-sm":
        from govledger.ledger.secrets.gcp import GcpResolver

        return GcpResolver(environ)
    from govledger.ledger.secrets.azure import AzureResolver

    return AzureResolver(environ)


@dataclass
class Managers:
    """Fetches any reference through its manager's resolver (handed in or built lazily)."""

    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    resolvers: dict[str, Resolver] = field(default_factory=dict)

    def fetch(self, ref: Reference) -> str:
        """The reference's current value; SecretUnavailableError names why not."""
        if ref.manager not in self.resolvers:
            try:
                self.resolvers[ref.manager] = _build(ref.manager, self.environ)
            except ImportError as error:
                extra = EXTRAS.get(ref.manager, "")
                raise SecretUnavailableError(
                    f"the {ref.manager} client is not installed ({error.name}):"
                    f" pip install 'govledger[{extra}]'"
                ) from None
        try:
            return self.resolvers[ref.manager].fetch(ref)
        except ImportError as error:
            extra = EXTRAS.get(ref.manager, "")
            raise SecretUnavailableError(
                f"the {ref.manager} client is not installed ({error.name}):"
                f" pip install 'govledger[{extra}]'"
            ) from None

    def resolve(self, text: str) -> str:
        """A literal as it is, a reference's value; SecretUnavailableError otherwise."""
        try:
            ref = parse_reference(text)
        except ReferenceError as error:
            raise SecretUnavailableError(str(error)) from None
        return text if ref is None else self.fetch(ref)
