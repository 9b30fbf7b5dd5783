"""The values of tracked references, in memory only, refreshed in the background.

`after_fetch` is the pure decision: a fetched value replaces the held one (a different
fingerprint is a rotation); a failure keeps the last good value and retries with backoff
(at most the TTL); a failure after failures is not news, a success after them is.
`SecretCache` holds the entries and runs the fetches on its own thread, never on a request.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from govledger.ledger.secrets.references import Reference, ReferenceError, parse_reference
from govledger.ledger.secrets.resolver import SecretUnavailableError

log = logging.getLogger("govledger")

DEFAULT_TTL_S = {"env": 3600.0, "file": 5.0}
RETRY_S = 1.0  # first retry after a failure; doubles up to the TTL


def fingerprint(value: str) -> str:
    """A short, stable fingerprint of a value (SHA-256 prefix), safe to log and store."""
    return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


def masked(value: str) -> str:
    """A value as shown to people: its first four characters and its length."""
    return f"{value[:4]}…({len(value)} chars)" if len(value) > 8 else f"…({len(value)} chars)"


@dataclass(frozen=True)
class Held:
    """One reference's last good value, when to fetch it next, and the last failure."""

    reference: Reference
    value: str | None = None
    fingerprint: str = ""
    due_at: float = 0.0
    error: str = ""
    failures: int = 0


@dataclass(frozen=True)
class Change:
    """News about a reference: resolved, rotated, unavailable or restored (never the value)."""

    kind: str  # resolved (a first value) | rotated | unavailable | restored
    reference: str
    fingerprint: str = ""
    previous: str = ""
    reason: str = ""
    kept: bool = False  # unavailable: a last good value stays in use


def after_fetch(
    held: Held, outcome: str | SecretUnavailableError, now: float, ttl_s: float
) -> tuple[Held, list[Change]]:
    """The entry after one fetch, and what is news about it."""
    text = held.reference.text
    if isinstance(outcome, str):
        print_ = fingerprint(outcome)
        changes = []
        if held.value is None and not held.error:
            changes.append(Change("resolved", text, print_))
        if held.error:
            changes.append(Change("restored", text, print_, held.fingerprint))
        if held.value is not None and print_ != held.fingerprint:
            changes.append(Change("rotated", text, print_, held.fingerprint))
        return Held(held.reference, outcome, print_, now + ttl_s), changes
    reason = str(outcome)
    retry = min(ttl_s, RETRY_S * 2**held.failures)
    news = (
        []
        if held.error == reason
        else [
            Change(
                "unavailable", text, held.fingerprint, reason=reason, kept=held.value is not None
            )
        ]
    )
    return replace(held, error=reason, failures=held.failures + 1, due_at=now + retry), news


class SecretCache:
    """Tracked references and their values; `start` refreshes them on a thread of its own."""

    def __init__(
        self,
        fetch: Callable[[Reference], str],
        default_ttl_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[list[Change]], None] | None = None,
    ) -> None:
        self._fetch = fetch
        self._default_ttl_s = default_ttl_s
        self._clock = clock
        self.on_change = on_change
        self._held: dict[str, Held] = {}
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def ttl_of(self, ref: Reference) -> float:
        """The reference's own TTL, else its manager's default, else the process default."""
        if ref.ttl_s is not None:
            return ref.ttl_s
        return DEFAULT_TTL_S.get(ref.manager, self._default_ttl_s)

    def track(self, texts: Iterable[str]) -> list[tuple[str, str]]:
        """Follow exactly these references (new ones are due now); malformed ones are
        returned as (reference, reason) and not followed."""
        bad: list[tuple[str, str]] = []
        wanted: dict[str, Reference] = {}
        for text in texts:
            try:
                ref = parse_reference(text)
            except ReferenceError as error:
                bad.append((text, str(error)))
                continue
            if ref is not None:
                wanted[text] = ref
        with self._lock:
            added = wanted.keys() - self._held.keys()
            self._held = {t: self._held.get(t) or Held(wanted[t]) for t in wanted}
        if added:
            self._wake.set()
        return bad

    def value(self, text: str) -> str | None:
        """The value held for a reference (memory only: never fetches)."""
        held = self._held.get(text)
        return None if held is None else held.value

    def entries(self) -> list[Held]:
        """Every tracked entry."""
        with self._lock:
            return list(self._held.values())

    def degraded(self) -> list[dict[str, object]]:
        """The references whose last fetch failed: reason, and whether a value is kept."""
        return [
            {"reference": h.reference.text, "reason": h.error, "kept": h.value is not None}
            for h in self.entries()
            if h.error
        ]

    def refresh(self, force: bool = False) -> list[Change]:
        """Fetch every due reference (all with `force`), then report the news."""
        with self._refreshing:
            now = self._clock()
            due = [h for h in self.entries() if force or h.due_at <= now]
            changes: list[Change] = []
            for held in due:
                try:
                    outcome: str | SecretUnavailableError = self._fetch(held.reference)
                except SecretUnavailableError as error:
                    outcome = error
                except Exception as error:  # a resolver bug must not stop the refresher
                    outcome = SecretUnavailableError(f"{type(error).__name__}: {error}"[:240])
                with self._lock:
                    current = self._held.get(held.reference.text)
                    if current is None:  # no longer tracked meanwhile
                        continue
                    updated, news = after_fetch(
                        current, outcome, self._clock(), self.ttl_of(held.reference)
                    )
                    self._held[held.reference.text] = updated
                changes.extend(news)
        for change in changes:
            if change.kind == "resolved":
                continue
            log.warning(
                "secret %s %s%s",
                change.reference,
                change.kind,
                f": {change.reason}" if change.reason else f" ({change.fingerprint})",
            )
        if changes and self.on_change is not None:
            self.on_change(changes)
        return changes

    def start(self) -> None:
        """Refresh in the background until `stop`."""
        self._thread = threading.Thread(target=self._run, name="govledger-secrets", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background refresh."""
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _next_in(self) -> float:
        entries = self.entries()
        if not entries:
            return 60.0
        return max(0.05, min(h.due_at for h in entries) - self._clock())

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(timeout=self._next_in())
            self._wake.clear()
            if self._stopped.is_set():
                return
            try:
                self.refresh()
            except Exception as error:  # pragma: no cover - kept running whatever happens
                log.error("secret refresh failed: %s", error)
