"""Secrets at rest: virtual keys as SHA-256 hashes, provider keys as references or ciphertext."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from govledger.ledger.secrets import references
from govledger.ledger.secrets.managers import Managers
from govledger.ledger.secrets.resolver import SecretUnavailableError

VIRTUAL_KEY_PREFIX = "sk-bf-"
ADMIN_TOKEN_PREFIX = "gl-admin-"
DISPLAY_PREFIX_LENGTH = 10


class CredentialError(ValueError):
    """A secret could not be resolved or decrypted."""


def generate_virtual_key() -> str:
    """Return a fresh virtual key value: `sk-bf-` and 40 random URL-safe characters."""
    return VIRTUAL_KEY_PREFIX + secrets.token_urlsafe(30)


TOKEN_PREFIXES = {"Admin": ADMIN_TOKEN_PREFIX, "Developer": "gl-developer-", "Viewer": "gl-viewer-"}


def generate_admin_token(role: str = "Admin") -> str:
    """Return a fresh management token: a prefix naming its built-in role (`gl-admin-`,
    `gl-developer-`, `gl-viewer-`; `gl-token-` for a custom role) and 43 random characters.
    Only an Admin's token begins with `gl-admin-`."""
    return TOKEN_PREFIXES.get(role, "gl-token-") + secrets.token_urlsafe(32)


def hash_secret(value: str) -> str:
    """Return the hex SHA-256 of a secret, the only form in which it is stored."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def display_prefix(value: str) -> str:
    """Return the short prefix shown to people (`sk-bf-ab12…`)."""
    return value[:DISPLAY_PREFIX_LENGTH] + "…"


def hashes_match(a: str, b: str) -> bool:
    """Compare two hashes in constant time."""
    return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))


def is_reference(value: str) -> bool:
    """True for references (`env.`, `file.`, `vault.`, `aws-sm.`, `gcp-sm.`, `azure-kv.`),
    which are stored as they are (see docs/secrets.md)."""
    return references.is_reference(value)


def resolve_reference(value: str) -> str:
    """Return the secret a reference points to (fetched now), or the literal itself."""
    if not is_reference(value):
        return value
    try:
        return Managers().resolve(value)
    except SecretUnavailableError as error:
        raise CredentialError(str(error)) from None


class SecretBox:
    """AES-GCM encryption of literal provider keys with one master key."""

    PREFIX = "aesgcm:"

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise CredentialError("the master key must be 32 bytes")
        self._aead = AESGCM(key)
        self._key = key

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for one purpose (e.g. signing session cookies), from the master key:
        every instance sharing the master key derives the same one."""
        label = f"govledger:{purpose}".encode()
        return hmac.new(self._key, label, hashlib.sha256).digest()

    @classmethod
    def from_environment_or_file(cls, path: Path) -> SecretBox:
        """Use GOVLEDGER_SECRET_KEY (base64, or a reference to it, resolved once at start) or a
        key file, created with mode 0600 if missing."""
        encoded = os.environ.get("GOVLEDGER_SECRET_KEY")
        if encoded and is_reference(encoded):
            try:
                encoded = resolve_reference(encoded)
            except CredentialError as error:
                raise CredentialError(f"GOVLEDGER_SECRET_KEY={encoded}: {error}") from None
        if encoded:
            return cls(base64.urlsafe_b64decode(encoded))
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as file:
                file.write(base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)))
        return cls(base64.urlsafe_b64decode(path.read_bytes().strip()))

    def encrypt(self, plaintext: str) -> str:
        """Return `aesgcm:` + base64(nonce + ciphertext)."""
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), None)
        return self.PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Return the plaintext of a token made by `encrypt`."""
        if not token.startswith(self.PREFIX):
            raise CredentialError("not an encrypted value")
        raw = base64.urlsafe_b64decode(token[len(self.PREFIX) :])
        try:
            return self._aead.decrypt(raw[:12], raw[12:], None).decode("utf-8")
        except InvalidTag:
            raise CredentialError("cannot decrypt a provider key: wrong master key") from None
