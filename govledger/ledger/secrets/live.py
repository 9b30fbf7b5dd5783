"""A secret setting read where it is used (alert channels, SIEM sinks): a literal as it is,
a reference fetched again once its TTL has passed, the last good value kept meanwhile."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from govledger.ledger.secrets.cache import DEFAULT_TTL_S
from govledger.ledger.secrets.managers import Managers
from govledger.ledger.secrets.references import Reference, ReferenceError, parse_reference
from govledger.ledger.secrets.resolver import SecretUnavailableError

log = logging.getLogger("govledger")

Secret = str | Callable[[], str]  # a value, or what reads the current one


def current(secret: Secret) -> str:
    """The value of a secret setting now."""
    return secret() if callable(secret) else secret


@dataclass
class LiveSecret:
    """A reference's value, fetched when first asked and again after its TTL (a failed
    fetch keeps the last good value and is logged in one line, naming the setting)."""

    name: str  # the setting, e.g. GOVLEDGER_ALERT_WEBHOOK_SECRET
    reference: Reference
    managers: Managers
    default_ttl_s: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _value: str | None = field(default=None, repr=False)
    _due: float = 0.0

    def __call__(self) -> str:
        now = self.clock()
        if self._value is None or now >= self._due:
            ttl = self.reference.ttl_s
            if ttl is None:
                ttl = DEFAULT_TTL_S.get(self.reference.manager, self.default_ttl_s)
            try:
                self._value = self.managers.fetch(self.reference)
            except SecretUnavailableError as error:
                if self._value is None:
                    raise SecretUnavailableError(f"{self.name}={self.reference}: {error}") from None
                log.warning("%s=%s: last good value kept: %s", self.name, self.reference, error)
            self._due = now + ttl
        return self._value


def secret_setting(
    environ: Mapping[str, str], name: str, managers: Managers | None = None
) -> Secret:
    """A setting's literal, or a LiveSecret for a reference (fetched once now, so a
    reference that cannot be resolved fails here: SecretUnavailableError naming it)."""
    text = environ.get(name, "")
    try:
        ref = parse_reference(text)
    except ReferenceError as error:
        raise SecretUnavailableError(f"{name}: {error}") from None
    if ref is None:
        return text
    live = LiveSecret(name, ref, managers or Managers(environ))
    live()
    return live
