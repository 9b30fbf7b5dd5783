"""Subjects' keys: a mutable table outside the immutable log, each key encrypted under the
instance's master key, and the in-memory ring of the keys in use.

SQLite keeps them in a file of their own beside the store (`<name>.subjects.sqlite`, deleted
rows overwritten: `secure_delete`); PostgreSQL in `gl_subject_keys` of the store's database
(vacuumed after a key is destroyed). Destroying a subject's key erases it: every value sealed
under it opens as `erased` from then on.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg

from govledger.ledger.credentials import CredentialError, SecretBox
from govledger.ledger.personal import (
    KEY_BYTES,
    NONCE_BYTES,
    SubjectRef,
    key_for_value,
    open_value,
    seal,
    subject_ref,
)
from govledger.ledger.store import StoreURL

CREATE = "CREATE TABLE IF NOT EXISTS gl_subject_keys (ref TEXT PRIMARY KEY, key TEXT NOT NULL)"
CACHED_KEYS = 10_000  # keys a ring holds in memory (least recently used go first)


class SubjectKeys:
    """The table of subjects' keys on SQLite or PostgreSQL: one connection, used under a lock
    (callers are worker threads, never the event loop)."""

    def __init__(self, url: str, box: SecretBox) -> None:
        self.url = StoreURL(url)
        self.box = box
        self.is_postgres = self.url.scheme == "postgresql"
        self._lock = threading.Lock()
        self._conn: Any = None

    def _connect(self) -> Any:
        conn: Any
        if self.is_postgres:
            env = self.url.environment("governance")
            conn = psycopg.connect(
                host=env["POSTGRES_HOST"],
                port=int(env["POSTGRES_PORT"]),
                dbname=env["POSTGRES_DBNAME"],
                user=env["POSTGRES_USER"],
                password=env["POSTGRES_PASSWORD"],
                connect_timeout=5,
                autocommit=True,
            )
        else:
            path = self.url.sqlite_file("subjects")
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA secure_delete = ON")
        # another instance may create it at the same moment
        racing = (
            psycopg.errors.UniqueViolation,
            psycopg.errors.DuplicateTable,
            psycopg.errors.DuplicateObject,
        )
        with contextlib.suppress(*racing):
            conn.execute(CREATE)
        return conn

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        """Run one statement (reconnecting once after a broken connection)."""
        text = sql.replace("?", "%s") if self.is_postgres else sql
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._conn is None:
                        self._conn = self._connect()
                    return self._conn.execute(text, params)
                except (psycopg.OperationalError, sqlite3.OperationalError):
                    self._close()
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")  # pragma: no cover

    def key_for(self, ref: SubjectRef) -> bytes:
        """The subject's key, created if it has none (safe when instances race: the first
        insert wins and everyone reads it back)."""
        fresh = self.box.encrypt(base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode())
        self._run(
            "INSERT INTO gl_subject_keys (ref, key) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (ref, fresh),
        )
        found = self.find(ref)
        if found is None:  # destroyed between the two statements: seal under none
            raise CredentialError(f"the key of {ref} was destroyed while it was created")
        return found

    def find(self, ref: SubjectRef) -> bytes | None:
        """The subject's key, or None when it has none (never had one, or it was destroyed)."""
        row = self._run("SELECT key FROM gl_subject_keys WHERE ref = ?", (ref,)).fetchone()
        return None if row is None else self._open(row[0])

    def destroy(self, ref: SubjectRef) -> int:
        """Delete the subject's key (1 if it had one, else 0); on PostgreSQL the table is then
        vacuumed so the deleted row does not linger in its pages."""
        done = self._run("DELETE FROM gl_subject_keys WHERE ref = ?", (ref,))
        count = int(done.rowcount)
        if self.is_postgres and count:
            self._run("VACUUM gl_subject_keys")
        return count

    def count(self) -> int:
        """How many subjects have a key."""
        return int(self._run("SELECT COUNT(*) FROM gl_subject_keys").fetchone()[0])

    def _open(self, stored: str) -> bytes:
        key = base64.urlsafe_b64decode(self.box.decrypt(stored))
        if len(key) != KEY_BYTES:
            raise CredentialError("a subject key is not 32 bytes")
        return key

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # already broken
                self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._close()


class KeyRing:
    """The keys in use, cached per process: sealing reads only the cache (`prepare` fills it
    off the event loop); opening asks the table for a key it has not cached; `evict` drops a
    forgotten subject's key."""

    def __init__(self, keys: SubjectKeys, size: int = CACHED_KEYS) -> None:
        self.keys = keys
        self.secret = keys.box.derive("subject references")
        self.size = size
        self._cache: OrderedDict[SubjectRef, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def ref(self, subject: str) -> SubjectRef:
        """The subject's reference under this instance's secret."""
        return subject_ref(self.secret, subject)

    def prepare(self, subjects: Iterable[str]) -> None:
        """Make sure each subject has a key in the cache (blocking: call from a thread)."""
        for subject in subjects:
            ref = self.ref(subject)
            if self._cached(ref) is None:
                self._keep(ref, self.keys.key_for(ref))

    def has(self, subject: str) -> bool:
        """True if the subject's key is cached."""
        return self._cached(self.ref(subject)) is not None

    def seal(self, subject: str) -> str | None:
        """The subject's value sealed under its cached key; None if no key is cached."""
        ref = self.ref(subject)
        key = self._cached(ref)
        if key is None:
            return None
        return seal(subject, ref, key, secrets.token_bytes(NONCE_BYTES))

    def key_of(self, ref: SubjectRef) -> bytes | None:
        """The key to open a value with (blocking on a miss: call from a thread)."""
        key = self._cached(ref)
        if key is None:
            key = self.keys.find(ref)
            if key is not None:
                self._keep(ref, key)
        return key

    def shown(self, values: Sequence[str | None]) -> list[str | None]:
        """Values as shown: sealed ones opened, or `erased` (blocking: call from a thread;
        each missing key is asked for once)."""
        missing: set[SubjectRef] = set()

        def key_of(ref: SubjectRef) -> bytes | None:
            if ref in missing:
                return None
            key = self.key_of(ref)
            if key is None:
                missing.add(ref)
            return key

        return [
            None if value is None else open_value(value, key_for_value(value, key_of))
            for value in values
        ]

    def evict(self, ref: SubjectRef) -> None:
        """Forget a cached key (its subject was erased)."""
        with self._lock:
            self._cache.pop(ref, None)

    def _cached(self, ref: SubjectRef) -> bytes | None:
        with self._lock:
            key = self._cache.get(ref)
            if key is not None:
                self._cache.move_to_end(ref)
            return key

    def _keep(self, ref: SubjectRef, key: bytes) -> None:
        with self._lock:
            self._cache[ref] = key
            self._cache.move_to_end(ref)
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
