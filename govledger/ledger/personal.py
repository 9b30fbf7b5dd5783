"""Personal data sealed under its subject's key, and opened again, as pure decisions.

A subject (a person a value identifies, e.g. the value of an `x-user-id` header) is named in
the log only by its reference, an HMAC of the value under the instance's secret. Its value is
written into events as `gl-sealed:v1:<ref>:<nonce+ciphertext>`, AES-256-GCM under a key of
its own that lives outside the log (`ledger/subject_keys.py`): destroying the key erases
every value sealed under it, and no event changes, so the hash chain still verifies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from typing import NewType

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SEALED_PREFIX = "gl-sealed:v1:"
ERASED = "erased"  # what every view, report and export shows for an erased value
WITHHELD = "withheld"  # recorded instead of a personal value whose key could not be had
REF_PREFIX = "subj-"
NONCE_BYTES = 12
KEY_BYTES = 32

SubjectRef = NewType("SubjectRef", str)
KeyOf = Callable[[SubjectRef], bytes | None]


RECORDED_HEADER_BYTES = 256  # a recorded header value is cut to this many UTF-8 bytes


def recorded_value(value: str, limit: int = RECORDED_HEADER_BYTES) -> str:
    """A header value as an event records it (and a subject as it is named): at most
    `limit` UTF-8 bytes, whole characters."""
    data = value.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return value
    return data[:limit].decode("utf-8", "ignore")


class SealError(ValueError):
    """A key or nonce of the wrong size."""


def subject_ref(secret: bytes, subject: str) -> SubjectRef:
    """The subject's reference: `subj-` and 32 hex of HMAC-SHA256(secret, value)."""
    digest = hmac.new(secret, subject.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return SubjectRef(REF_PREFIX + digest.hexdigest()[:32])


def seal(plaintext: str, ref: SubjectRef, key: bytes, nonce: bytes) -> str:
    """`plaintext` encrypted under the subject's key, bound to its reference."""
    if len(key) != KEY_BYTES or len(nonce) != NONCE_BYTES:
        raise SealError("a subject key is 32 bytes and a nonce 12")
    data = plaintext.encode("utf-8", "surrogatepass")
    sealed = AESGCM(key).encrypt(nonce, data, ref.encode("ascii"))
    return f"{SEALED_PREFIX}{ref}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"


def is_sealed(value: object) -> bool:
    """True for a value written by `seal`."""
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def sealed_ref(value: str) -> SubjectRef | None:
    """The subject a sealed value belongs to (None for a value that is not sealed)."""
    if not is_sealed(value):
        return None
    ref, _, _ = value[len(SEALED_PREFIX) :].partition(":")
    return SubjectRef(ref) if ref.startswith(REF_PREFIX) else None


def open_value(value: str, key: bytes | None) -> str:
    """A value as shown: its plaintext, `erased` when its key is gone (or is not the key it
    was sealed under, or the value is damaged); a value that is not sealed as it is."""
    ref = sealed_ref(value)
    if ref is None:
        return ERASED if is_sealed(value) else value
    if key is None or len(key) != KEY_BYTES:
        return ERASED
    try:
        raw = base64.urlsafe_b64decode(value[len(SEALED_PREFIX) + len(ref) + 1 :])
        opened = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], ref.encode("ascii"))
    except (InvalidTag, ValueError, binascii.Error):
        return ERASED
    return opened.decode("utf-8", "surrogatepass")


def seal_fields(fields: Mapping[str, str], ref: SubjectRef, key: bytes, nonce: bytes) -> str:
    """Several personal fields of one subject (a user's name, e-mail, …) sealed as one value."""
    return seal(json.dumps(dict(fields), sort_keys=True), ref, key, nonce)


def open_fields(value: object, key: bytes | None, names: Sequence[str]) -> dict[str, str]:
    """Fields sealed by `seal_fields`, opened; every one of `names` is `erased` when the key is
    gone; fields that were never sealed (a dict) as they are."""
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    opened = open_value(value, key) if isinstance(value, str) else ERASED
    if opened == ERASED:
        return dict.fromkeys(names, ERASED)
    try:
        fields = json.loads(opened)
    except ValueError:
        return dict.fromkeys(names, ERASED)
    return {str(k): str(v) for k, v in fields.items()} if isinstance(fields, dict) else {}


def open_values(values: Mapping[str, str], key_of: KeyOf) -> dict[str, str]:
    """Each value of a mapping (recorded headers) opened with its subject's key."""
    return {
        name: open_value(value, key_for_value(value, key_of)) if is_sealed(value) else value
        for name, value in values.items()
    }


def key_for_value(value: str, key_of: KeyOf) -> bytes | None:
    """The key a sealed value opens with (None for a value that is not sealed)."""
    ref = sealed_ref(value)
    return None if ref is None else key_of(ref)
