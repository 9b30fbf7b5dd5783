"""A bound on each store call of the books and the heartbeat, on both sides of the socket.

PostgreSQL's `statement_timeout` ends a statement the server is slow to run (a lock wait, a
busy disk); it cannot end one the server never gets to: a frozen server (its processes
stopped, the kernel still accepting and acknowledging) answers nothing, not even a cancel.
So the caller also shuts its own socket once the bound has passed: the blocked read returns
at once with a connection error, and the next call opens a fresh connection.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import weakref
from collections.abc import Iterator
from typing import Any


class StatementBound:
    """Ends a call on the watched connections that runs longer than `seconds`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._active = 0  # the call in progress (its number), 0 when none
        self._calls = 0
        self.cut = False  # the last call ran out of time and had its sockets shut

    @property
    def milliseconds(self) -> int:
        """The bound in whole milliseconds (at least 1), as PostgreSQL takes it."""
        return max(int(self.seconds * 1000), 1)

    @property
    def options(self) -> str:
        """libpq `options` that make the server end a statement at the bound."""
        return f"-c statement_timeout={self.milliseconds}"

    def watch(self, connection: Any) -> None:
        """Add a psycopg connection whose socket is shut when a call runs over."""
        self._connections.add(connection)

    @contextlib.contextmanager
    def call(self) -> Iterator[None]:
        """One bounded call: if it is still running at the bound, its sockets are shut."""
        with self._lock:
            self._calls += 1
            self._active = number = self._calls
            self.cut = False
        timer = threading.Timer(self.seconds, self._expire, (number,))
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()
            with self._lock:
                self._active = 0

    def _expire(self, number: int) -> None:
        with self._lock:
            if self._active != number:  # that call ended meanwhile
                return
            self.cut = True
            for connection in list(self._connections):
                shut(connection)


def shut(connection: Any) -> None:
    """Shut a psycopg connection's socket both ways (a read blocked on it returns at once)."""
    with contextlib.suppress(Exception):
        if connection.closed:
            return
        duplicate = os.dup(connection.fileno())
        with socket.socket(fileno=duplicate) as sock:
            sock.shutdown(socket.SHUT_RDWR)
