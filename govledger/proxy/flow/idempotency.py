"""Idempotency-Key: the same key and body within 24 h replays the first response, uncharged."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from govledger.proxy.surfaces.errors import GatewayError


@dataclass(frozen=True)
class Replay:
    """A stored response to send again."""

    status: int
    body: bytes
    headers: Mapping[str, str]
    media_type: str


@dataclass
class Slot:
    """One idempotency key in use: the body it was first sent with and, once done, its answer."""

    scope: tuple[str, str]
    body_hash: str
    expires: float
    response: Replay | None = None
    chunks: list[bytes] = field(default_factory=list)


class IdempotencyCache:
    """In-memory store of idempotent requests, scoped by virtual key, expiring after a TTL."""

    def __init__(
        self,
        ttl_s: float = 86400.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._slots: OrderedDict[tuple[str, str], Slot] = OrderedDict()

    def begin(self, idempotency_key: str | None, key_id: str, body: Any) -> Slot | Replay | None:
        """None without a key; a Replay for a finished duplicate; else a new Slot to finish."""
        if not idempotency_key:
            return None
        now = self.clock()
        while self._slots and next(iter(self._slots.values())).expires <= now:
            self._slots.popitem(last=False)
        scope = (key_id, idempotency_key)
        digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
        slot = self._slots.get(scope)
        if slot is not None:
            if slot.body_hash != digest:
                raise GatewayError(
                    422,
                    "idempotency_key_reused",
                    "this Idempotency-Key was first used with a different body",
                    level="request",
                )
            if slot.response is None:
                raise GatewayError(
                    409,
                    "idempotency_request_in_flight",
                    "a request with this Idempotency-Key is still in flight",
                    level="request",
                )
            return slot.response
        slot = Slot(scope, digest, now + self.ttl_s)
        self._slots[scope] = slot
        if len(self._slots) > self.max_entries:
            self._slots.popitem(last=False)
        return slot

    def finish(
        self, slot: Any, status: int, body: bytes, headers: Mapping[str, str], media_type: str
    ) -> None:
        """Keep the answer of a slot (no-op for None)."""
        if isinstance(slot, Slot):
            slot.response = Replay(status, body, dict(headers), media_type)

    def abandon(self, slot: Any) -> None:
        """Forget a slot whose request failed before an answer, so a retry may proceed."""
        if isinstance(slot, Slot) and slot.response is None:
            self._slots.pop(slot.scope, None)
