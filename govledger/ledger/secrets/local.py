"""Resolvers without a manager: environment variables and files (re-read on change)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from govledger.ledger.secrets.references import Reference
from govledger.ledger.secrets.resolver import SecretUnavailableError


@dataclass
class EnvResolver:
    """`env.NAME`: the process environment (or a mapping handed in)."""

    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    def fetch(self, ref: Reference) -> str:
        """The variable's value."""
        value = self.environ.get(ref.name)
        if value is None:
            raise SecretUnavailableError(f"environment variable {ref.name} is not set")
        return value


@dataclass
class FileResolver:
    """`file./path`: the file's content without its trailing newline, read again when its
    modification time or size changes."""

    _seen: dict[str, tuple[int, int, str]] = field(default_factory=dict)

    def fetch(self, ref: Reference) -> str:
        """The file's content."""
        try:
            info = os.stat(ref.name)
            seen = self._seen.get(ref.name)
            if seen is not None and seen[:2] == (info.st_mtime_ns, info.st_size):
                return seen[2]
            with open(ref.name, encoding="utf-8") as file:
                value = file.read().rstrip("\r\n")
        except OSError as error:
            raise SecretUnavailableError(f"cannot read {ref.name}: {error.strerror}") from None
        if not value:
            raise SecretUnavailableError(f"{ref.name} is empty")
        self._seen[ref.name] = (info.st_mtime_ns, info.st_size, value)
        return value
