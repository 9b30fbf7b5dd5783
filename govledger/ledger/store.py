"""The event store: two eventsourcing applications (governance, usage) on SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from eventsourcing.application import Application
from eventsourcing.persistence import Notification, OperationalError, Transcoder

from govledger.ledger.events import LedgerEvent
from govledger.ledger.transcoder import LedgerTranscoder

DEFAULT_URL = "sqlite:///data/govledger.sqlite"


class StoreUnavailableError(RuntimeError):
    """The event store cannot be reached or opened."""


class LedgerApplication(Application[Any]):
    """An application of the store: the library's, encoding with `LedgerTranscoder`."""

    def construct_transcoder(self) -> Transcoder:
        """The library's transcodings on the orjson-backed transcoder."""
        transcoder = LedgerTranscoder()
        self.register_transcodings(transcoder)
        return transcoder


class Governance(LedgerApplication):
    """Governance changes: customers, teams, providers, virtual keys, settings."""

    name = "governance"


class Usage(LedgerApplication):
    """Request usage: admitted, settled, abandoned and rejected requests."""

    name = "usage"


@dataclass(frozen=True)
class StoreURL:
    """A parsed `GOVLEDGER_DATABASE_URL`."""

    raw: str

    @property
    def scheme(self) -> str:
        """`sqlite` or `postgresql`."""
        scheme = urlsplit(self.raw).scheme
        return "postgresql" if scheme in ("postgres", "postgresql") else scheme

    @property
    def sqlite_path(self) -> Path:
        """The file of an SQLite URL (`sqlite:///relative` or `sqlite:////absolute`)."""
        return Path(self.raw[len("sqlite:///") :])

    def masked(self) -> str:
        """The URL with its password replaced by `***`."""
        parts = urlsplit(self.raw)
        if parts.password is None:
            return self.raw
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))

    def sqlite_file(self, part: str) -> Path:
        """One of the SQLite files: `data/x.sqlite` gives `data/x.governance.sqlite` etc."""
        path = self.sqlite_path
        return path.with_name(f"{path.stem}.{part}{path.suffix or '.sqlite'}")

    def environment(self, app: str) -> dict[str, str]:
        """The eventsourcing environment of one application.

        SQLite keeps one file per application (its recorder has one table name, and a
        file has one write lock); PostgreSQL keeps one table per application.
        """
        if self.scheme == "sqlite":
            if not self.raw.startswith("sqlite:///") or self.raw == "sqlite:///":
                raise StoreUnavailableError("an SQLite URL looks like sqlite:///data/file.sqlite")
            path = self.sqlite_file(app)
            path.parent.mkdir(parents=True, exist_ok=True)
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(path),
                "SQLITE_LOCK_TIMEOUT": "10",
            }
        if self.scheme == "postgresql":
            parts = urlsplit(self.raw)
            return {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": parts.path.lstrip("/") or "postgres",
                "POSTGRES_HOST": parts.hostname or "127.0.0.1",
                "POSTGRES_PORT": str(parts.port or 5432),
                "POSTGRES_USER": unquote(parts.username or "postgres"),
                "POSTGRES_PASSWORD": unquote(parts.password or ""),
                "POSTGRES_CONNECT_TIMEOUT": "5",
                "POSTGRES_POOL_SIZE": "4",
                "POSTGRES_MAX_OVERFLOW": "4",
                "POSTGRES_PRE_PING": "n",  # insert_events retries on connection errors itself
                "POSTGRES_LOCK_TIMEOUT": "10",
                "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
                "APPLICATION_RECORDER_TOPIC": "govledger.ledger.pg_recorder:ArrayInsertRecorder",
            }
        raise StoreUnavailableError(
            f"unsupported database URL scheme {self.scheme!r}: use sqlite:/// or postgresql://"
        )


class Store:
    """Both applications over one database, with helpers to read their logs."""

    def __init__(
        self,
        url: str,
        create_tables: bool = True,
        connect_timeout: int = 5,
        pool_size: int = 1,
        max_overflow: int = 3,
    ) -> None:
        self.url = StoreURL(url)
        extra: dict[str, str] = {} if create_tables else {"CREATE_TABLE": "n"}
        if self.url.scheme == "postgresql":
            # Per application; the commit process needs one connection each (one commit in
            # flight), and a short connect timeout so an outage fails fast and recovers fast.
            extra |= {
                "POSTGRES_CONNECT_TIMEOUT": str(connect_timeout),
                "POSTGRES_POOL_SIZE": str(pool_size),
                "POSTGRES_MAX_OVERFLOW": str(max_overflow),
            }
            self._probe()
        try:
            self.governance = Governance(env={**self.url.environment("governance"), **extra})
            self.usage = Usage(env={**self.url.environment("usage"), **extra})
        except (OperationalError, OSError) as error:
            raise StoreUnavailableError(
                f"cannot open the event store at {self.url.masked()}: {_first_line(error)}"
            ) from None
        self.apps: dict[str, Application[Any]] = {
            "governance": self.governance,
            "usage": self.usage,
        }

    def _probe(self) -> None:
        """Connect once, so a server that is down or a bad login fails at once and says why.

        The library's pool would retry until its timeout and report only that it timed out.
        """
        import psycopg  # only for PostgreSQL: a process on SQLite never loads it (~10 MiB)

        env = self.url.environment("governance")
        try:
            psycopg.connect(
                host=env["POSTGRES_HOST"],
                port=int(env["POSTGRES_PORT"]),
                dbname=env["POSTGRES_DBNAME"],
                user=env["POSTGRES_USER"],
                password=env["POSTGRES_PASSWORD"],
                connect_timeout=int(env["POSTGRES_CONNECT_TIMEOUT"]),
            ).close()
        except psycopg.Error as error:
            raise StoreUnavailableError(
                f"cannot open the event store at {self.url.masked()}: {_first_line(error)}"
            ) from None

    def close(self) -> None:
        """Close both applications' connections."""
        for app in self.apps.values():
            app.close()

    def max_position(self, app: str) -> int:
        """The id of the last notification in one application's log (0 if empty)."""
        return self.apps[app].recorder.max_notification_id() or 0

    def read(
        self, app: str, after: int, limit: int = 1000, stop: int | None = None
    ) -> Sequence[Notification]:
        """Notifications with ids greater than `after`, in order."""
        return self.apps[app].recorder.select_notifications(
            start=after, limit=limit, stop=stop, inclusive_of_start=False
        )

    def positions(self, app: str, after: int, limit: int = 1000) -> list[int]:
        """The ids of the next notifications after `after`, in order (no state read)."""
        recorder: Any = self.apps[app].recorder
        if self.url.scheme == "postgresql":
            from psycopg.sql import SQL, Identifier

            statement = SQL(
                "SELECT notification_id FROM {schema}.{table} WHERE notification_id > %s "
                "ORDER BY notification_id LIMIT %s"
            ).format(
                schema=Identifier(recorder.datastore.schema),
                table=Identifier(recorder.events_table_name),
            )
            with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(statement, (after, limit), prepare=True)
                return [row["notification_id"] for row in curs.fetchall()]
        with recorder.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT rowid FROM {recorder.events_table_name} "  # noqa: S608 - the library's name
                "WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (after, limit),
            )
            return [row[0] for row in curs.fetchall()]

    def decode(self, app: str, notification: Notification) -> LedgerEvent:
        """Turn a stored notification back into its event."""
        event = self.apps[app].mapper.to_domain_event(notification)
        return event  # type: ignore[return-value]

    def iterate(
        self, app: str, after: int = 0, stop: int | None = None, batch: int = 2000
    ) -> Iterator[tuple[int, LedgerEvent]]:
        """Every (position, event) after a position, read in batches."""
        while True:
            notes = self.read(app, after, batch, stop)
            for note in notes:
                yield note.id, self.decode(app, note)
            if len(notes) < batch:
                return
            after = notes[-1].id


def open_existing(url: str) -> Store:
    """Open a store that must already exist (read-only commands never create an empty one);
    StoreUnavailableError names the file or database looked at."""
    parsed = StoreURL(url)
    if parsed.scheme == "sqlite" and parsed.raw.startswith("sqlite:///"):
        for part in ("governance", "usage"):
            path = parsed.sqlite_file(part)
            if not path.exists():
                raise StoreUnavailableError(
                    f"no event store at {path} (from GOVLEDGER_DATABASE_URL={parsed.masked()}); "
                    "`govledger apply` or `govledger serve` creates it"
                )
        return Store(url, create_tables=False)
    store = Store(url, create_tables=False)
    try:
        for app in store.apps:
            store.max_position(app)
    except Exception as error:  # the tables are missing (or unreadable)
        store.close()
        raise StoreUnavailableError(
            f"no event store in {parsed.masked()} ({_first_line(error)}); "
            "`govledger apply` or `govledger serve` creates it"
        ) from None
    return store


def without_retries(method: Any) -> Any:
    """The library's recorder method without its retry loop (ten attempts, 0.2 s apart).

    Callers that retry on their own (the commit process, the allotter's books) use this: the
    library's loop, waiting on a pool that backs off, held a call for seconds after the store
    had come back.
    """
    return getattr(method, "__wrapped__", method)


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
