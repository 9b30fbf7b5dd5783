"""Sealing personal values under a subject's key: opened with the key, `erased` without it
(or with another key, or damaged); the sealed form never holds the value (property tests)."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from govledger.ledger.personal import (
    ERASED,
    SEALED_PREFIX,
    SealError,
    SubjectRef,
    is_sealed,
    open_fields,
    open_value,
    open_values,
    seal,
    seal_fields,
    sealed_ref,
    subject_ref,
)

SECRET = b"s" * 32
keys = st.binary(min_size=32, max_size=32)
nonces = st.binary(min_size=12, max_size=12)
values = st.text(min_size=1, max_size=256)


@given(values, keys, nonces)
def test_a_sealed_value_opens_with_its_key_and_is_erased_without_it(
    value: str, key: bytes, nonce: bytes
) -> None:
    ref = subject_ref(SECRET, value)
    sealed = seal(value, ref, key, nonce)
    assert is_sealed(sealed) and sealed_ref(sealed) == ref
    assert open_value(sealed, key) == value
    assert open_value(sealed, None) == ERASED


@given(values, keys, keys, nonces)
def test_another_key_opens_nothing(value: str, key: bytes, other: bytes, nonce: bytes) -> None:
    sealed = seal(value, subject_ref(SECRET, value), key, nonce)
    assert open_value(sealed, other) == (value if other == key else ERASED)


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz@.", min_size=4, max_size=64), keys, nonces)
def test_the_sealed_form_and_the_reference_never_hold_the_value(
    value: str, key: bytes, nonce: bytes
) -> None:
    ref = subject_ref(SECRET, value)
    sealed = seal(value, ref, key, nonce)
    assert value not in sealed[len(SEALED_PREFIX) :]
    assert value not in ref
    assert value.encode() not in base64.urlsafe_b64decode(sealed.rsplit(":", 1)[1])


@given(values, keys, nonces, st.integers(min_value=0, max_value=10_000))
def test_a_damaged_or_moved_value_opens_as_erased(
    value: str, key: bytes, nonce: bytes, where: int
) -> None:
    ref = subject_ref(SECRET, value)
    sealed = seal(value, ref, key, nonce)
    body = sealed[len(SEALED_PREFIX) + len(ref) + 1 :]
    position = where % len(body)
    flipped = body[:position] + ("A" if body[position] != "A" else "B") + body[position + 1 :]
    damaged = sealed[: len(sealed) - len(body)] + flipped
    assert open_value(damaged, key) in (ERASED, value)  # base64 padding bits may not matter
    moved = sealed.replace(ref, subject_ref(SECRET, value + "x"))
    assert open_value(moved, key) == ERASED  # the reference is bound to the ciphertext


def test_references_are_stable_per_secret_and_differ_between_secrets() -> None:
    assert subject_ref(SECRET, "alice") == subject_ref(SECRET, "alice")
    assert subject_ref(SECRET, "alice") != subject_ref(SECRET, "bob")
    assert subject_ref(SECRET, "alice") != subject_ref(b"t" * 32, "alice")
    assert subject_ref(SECRET, "alice").startswith("subj-")


def test_plain_values_pass_and_garbage_with_the_prefix_is_erased() -> None:
    assert open_value("team-a", None) == "team-a"
    assert open_value(SEALED_PREFIX + "nonsense", b"k" * 32) == ERASED
    assert open_value(SEALED_PREFIX + "subj-1:!!!", b"k" * 32) == ERASED
    assert sealed_ref("team-a") is None


def test_a_key_or_nonce_of_the_wrong_size_is_refused() -> None:
    ref = SubjectRef("subj-0")
    for key, nonce in ((b"k" * 16, b"n" * 12), (b"k" * 32, b"n" * 8)):
        try:
            seal("v", ref, key, nonce)
        except SealError:
            continue
        raise AssertionError("not refused")


def test_a_mapping_of_headers_opens_each_sealed_value() -> None:
    key = b"k" * 32
    ref = subject_ref(SECRET, "alice")
    headers = {"x-user-id": seal("alice", ref, key, b"n" * 12), "x-tenant": "acme"}
    assert open_values(headers, {ref: key}.get) == {"x-user-id": "alice", "x-tenant": "acme"}
    assert open_values(headers, lambda _: None) == {"x-user-id": ERASED, "x-tenant": "acme"}


fields = st.dictionaries(st.sampled_from(["user_name", "email", "display_name"]), values)


@given(fields, keys, nonces)
def test_fields_sealed_together_open_together_or_are_all_erased(
    personal: dict[str, str], key: bytes, nonce: bytes
) -> None:
    ref = subject_ref(SECRET, "user-1")
    sealed = seal_fields(personal, ref, key, nonce)
    names = ["user_name", "email", "display_name"]
    assert open_fields(sealed, key, names) == personal
    assert open_fields(sealed, None, names) == dict.fromkeys(names, ERASED)
    assert open_fields(personal, None, names) == personal  # never sealed: as it is
