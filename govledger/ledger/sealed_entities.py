"""Entities' personal fields (`data.personal`, e.g. a user's name and e-mail) sealed on the
way to the store under the entity's own subject key (the subject is its id), and opened on
the way into the state; `erased` once the subject is forgotten."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Sequence
from typing import Any

from govledger.ledger import events as ev
from govledger.ledger.personal import ERASED, NONCE_BYTES, open_fields, seal_fields, sealed_ref
from govledger.ledger.subject_keys import KeyRing

PERSONAL = "personal"  # the one nested value of an entity's data that holds personal fields


def has_personal(data: Any) -> bool:
    """True if an entity's data carries personal fields, sealed or not."""
    return isinstance(data, dict) and PERSONAL in data


def seal_events(events: Sequence[ev.GovernanceEvent], ring: KeyRing) -> list[ev.GovernanceEvent]:
    """The events as they are stored: each entity's `personal` sealed under its subject's key
    (created if new; blocking: call from a thread). Other events as they are."""
    return [_sealed(event, ring) for event in events]


def _sealed(event: ev.GovernanceEvent, ring: KeyRing) -> ev.GovernanceEvent:
    if not isinstance(event, ev.EntityEvent) or not has_personal(event.data):
        return event
    fields = event.data[PERSONAL]
    if not isinstance(fields, dict):
        return event  # already sealed
    ring.prepare([event.entity_id])
    ref = ring.ref(event.entity_id)
    key = ring.key_of(ref)
    if key is None:  # destroyed while it was created: nothing personal is written
        sealed = ERASED
    else:
        sealed = seal_fields(fields, ref, key, secrets.token_bytes(NONCE_BYTES))
    return dataclasses.replace(event, data={**event.data, PERSONAL: sealed})


def opened(data: dict[str, Any], ring: KeyRing, names: Sequence[str]) -> dict[str, Any]:
    """An entity's data with its personal fields opened, or each `erased` (blocking on a
    key not cached yet)."""
    if not has_personal(data):
        return data
    value = data[PERSONAL]
    ref = sealed_ref(value) if isinstance(value, str) else None
    key = ring.key_of(ref) if ref is not None else None
    return {**data, PERSONAL: open_fields(value, key, names)}


def erased(data: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """An entity's data with every personal field `erased` (its subject was forgotten)."""
    if not has_personal(data):
        return data
    return {**data, PERSONAL: dict.fromkeys(names, ERASED)}
