"""The protocol every secret manager's resolver follows, and its one error."""

from __future__ import annotations

from typing import Protocol

from govledger.ledger.secrets.references import Reference


class SecretUnavailableError(Exception):
    """A secret could not be fetched; the message is one line and never holds a value."""


class Resolver(Protocol):
    """Fetches the current value of a reference from one manager (blocking I/O)."""

    def fetch(self, ref: Reference) -> str:
        """The value, or SecretUnavailableError saying why not in one line."""
        ...


def one_line(error: BaseException, limit: int = 240) -> str:
    """An exception as a single short line (a vendor's message may span many)."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:limit]
