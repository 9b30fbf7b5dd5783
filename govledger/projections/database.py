"""The views' database: SQLite (a file beside the event store) or the same PostgreSQL."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, Protocol
from urllib.parse import unquote, urlsplit

from govledger.ledger.store import StoreURL

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS gl_tracking (
        view TEXT NOT NULL, app TEXT NOT NULL, position BIGINT NOT NULL,
        PRIMARY KEY (view, app))""",
    """CREATE TABLE IF NOT EXISTS gl_budget_usage (
        budget TEXT NOT NULL, period TEXT NOT NULL, settled TEXT NOT NULL,
        reserved TEXT NOT NULL, requests BIGINT NOT NULL, PRIMARY KEY (budget, period))""",
    """CREATE TABLE IF NOT EXISTS gl_rate_state (
        limit_id TEXT PRIMARY KEY, tat DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS gl_requests (
        request_id TEXT PRIMARY KEY, position BIGINT NOT NULL, admitted_at TEXT NOT NULL,
        settled_at TEXT, key_id TEXT, team_id TEXT, customer_id TEXT, surface TEXT,
        model TEXT, provider TEXT, provider_key_id TEXT, status TEXT NOT NULL,
        reason TEXT, input_tokens BIGINT, output_tokens BIGINT, cached_tokens BIGINT,
        reasoning_tokens BIGINT, cost TEXT, price_source TEXT, latency_ms DOUBLE PRECISION,
        instance TEXT, incarnation TEXT, reservations TEXT, rate TEXT, attempts TEXT,
        headers TEXT, user_id TEXT)""",
    "CREATE INDEX IF NOT EXISTS gl_requests_status ON gl_requests (status)",
    "CREATE INDEX IF NOT EXISTS gl_requests_admitted ON gl_requests (admitted_at)",
    """CREATE TABLE IF NOT EXISTS gl_audit (
        position BIGINT PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL,
        source TEXT NOT NULL, action TEXT NOT NULL, resource_type TEXT NOT NULL,
        resource_id TEXT NOT NULL, version BIGINT NOT NULL, before TEXT, after TEXT)""",
]
# Columns added after a table's first release: added to an existing table on start.
ADDED_COLUMNS = {"gl_requests": {"user_id": "TEXT"}}
OnRebuild = Literal["refold", "keep"]  # what `govledger rebuild` does to a tracked reader
VIEW_TABLES = ("gl_budget_usage", "gl_rate_state", "gl_requests", "gl_audit")


class Cursor(Protocol):
    """The part of a DB-API cursor the views use."""

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def fetchone(self) -> Any: ...
    @property
    def description(self) -> Any: ...


def connection_errors() -> tuple[type[BaseException], ...]:
    """A lost or failed connection's errors: SQLite's, and psycopg's once it is loaded (a
    process on SQLite never loads it, so it can raise none of them)."""
    pg = sys.modules.get("psycopg")
    if pg is None:
        return (sqlite3.OperationalError,)
    return (sqlite3.OperationalError, pg.OperationalError, pg.InterfaceError)


class ViewDatabase:
    """Opens connections to the views' tables and runs SQL written with `?` placeholders."""

    def __init__(self, url: str) -> None:
        self.url = StoreURL(url)
        self.is_postgres = self.url.scheme == "postgresql"
        self._conn: Any = None
        if not self.is_postgres:
            self.sqlite_path = self.url.sqlite_file("views")
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)

    def sql(self, text: str) -> str:
        """Translate placeholders for the backend."""
        return text.replace("?", "%s") if self.is_postgres else text

    def connect(self) -> Any:
        """Open a new connection to the views' database."""
        if self.is_postgres:
            import psycopg  # only for PostgreSQL: a process on SQLite never loads it (~10 MiB)

            parts = urlsplit(self.url.raw)
            return psycopg.connect(
                host=parts.hostname or "127.0.0.1",
                port=parts.port or 5432,
                dbname=parts.path.lstrip("/") or "postgres",
                user=unquote(parts.username or "postgres"),
                password=unquote(parts.password or ""),
                connect_timeout=5,
                autocommit=True,
            )
        conn = sqlite3.connect(
            self.sqlite_path, timeout=10, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """A cursor inside one transaction, committed on success and rolled back on error.

        One connection is kept per ViewDatabase; give each thread its own instance.
        """
        if self._conn is None:
            self._conn = self.connect()
        conn = self._conn
        try:
            conn.execute("BEGIN" if self.is_postgres else "BEGIN IMMEDIATE")
            cursor = conn.cursor()
            try:
                yield _Translating(cursor, self)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except connection_errors():
            self.close()
            raise

    def close(self) -> None:
        """Close the connection (it reopens on next use)."""
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def create(self) -> None:
        """Create the tables if they are missing."""
        with self.transaction() as cur:
            for statement in SCHEMA:
                cur.execute(statement)
            for table, columns in ADDED_COLUMNS.items():
                add_missing_columns(cur, table, columns, self.is_postgres)
            for view, app in (("audit", "governance"), ("usage", "usage")):
                cur.execute(
                    "INSERT INTO gl_tracking (view, app, position) VALUES (?, ?, 0) "
                    "ON CONFLICT (view, app) DO NOTHING",
                    (view, app),
                )

    def query(self, text: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run a read query and return its rows."""
        with self.transaction() as cur:
            cur.execute(text, params)
            return cur.fetchall()

    def position(self, view: str, app: str) -> int:
        """The tracking position of a view in one application's log."""
        rows = self.query(
            "SELECT position FROM gl_tracking WHERE view = ? AND app = ?", (view, app)
        )
        return int(rows[0][0]) if rows else 0


class _Translating:
    """A cursor that translates `?` placeholders for PostgreSQL."""

    def __init__(self, cursor: Any, db: ViewDatabase) -> None:
        self._cursor = cursor
        self._db = db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cursor.execute(self._db.sql(sql), params)

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any:
        return self._cursor.executemany(self._db.sql(sql), params)

    def fetchall(self) -> list[Any]:
        return list(self._cursor.fetchall())

    def copy_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows in one statement stream: COPY on PostgreSQL, executemany on SQLite."""
        if not self._db.is_postgres:
            marks = ", ".join("?" for _ in columns)
            self._cursor.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                rows,
            )
            return
        with self._cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    @property
    def description(self) -> Any:
        return self._cursor.description


def add_missing_columns(
    cur: Cursor, table: str, columns: dict[str, str], is_postgres: bool
) -> None:
    """Add to an existing table the columns (name -> SQL type) it lacks, on either store
    (PostgreSQL: `IF NOT EXISTS`, as two instances may start at once; SQLite's
    `BEGIN IMMEDIATE` already serialises them)."""
    cur.execute(f"SELECT * FROM {table} WHERE 1 = 0")  # noqa: S608 - names are constants
    present = {str(d[0]).lower() for d in cur.description}
    for name, kind in columns.items():
        if name.lower() not in present:
            guard = "IF NOT EXISTS " if is_postgres else ""
            cur.execute(f"ALTER TABLE {table} ADD COLUMN {guard}{name} {kind}")


def insert_rows(
    cur: Cursor, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert many rows (names declared in code) the fastest way the cursor's backend has."""
    copy_rows = getattr(cur, "copy_rows", None)
    if copy_rows is not None:
        copy_rows(table, columns, rows)
        return
    marks = ", ".join("?" for _ in columns)
    cur.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
        rows,
    )


def in_chunks(values: Sequence[Any], size: int = 500) -> list[Sequence[Any]]:
    """`values` cut in slices of at most `size` (one `IN (...)` list each)."""
    return [values[i : i + size] for i in range(0, len(values), size)]


def set_position(cur: Cursor, view: str, app: str, position: int) -> None:
    """Record a view's tracking position inside the caller's transaction."""
    cur.execute(
        "INSERT INTO gl_tracking (view, app, position) VALUES (?, ?, ?) "
        "ON CONFLICT (view, app) DO UPDATE SET position = excluded.position",
        (view, app, position),
    )
