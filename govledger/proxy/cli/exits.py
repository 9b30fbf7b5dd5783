"""How a local command fails: one line on stderr and exit status 1, never a traceback."""

from __future__ import annotations

import sqlite3
from typing import NoReturn

import psycopg
import typer
from eventsourcing.persistence import PersistenceError

DATABASE_ERRORS = (sqlite3.Error, psycopg.Error, PersistenceError)  # the store or views failed


def first_line(error: BaseException) -> str:
    """An error's first line, for a one-line message."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def fail(message: str) -> NoReturn:
    """Print one line to stderr and exit non-zero."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)
