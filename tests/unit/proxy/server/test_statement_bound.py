"""The client side of the books' statement bound: a call past it has its socket shut."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from govledger.proxy.server.statement_bound import StatementBound


class _Connection:
    """What the bound uses of a psycopg connection: `closed` and `fileno()`."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.closed = False

    def fileno(self) -> int:
        return self.sock.fileno()


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """Two connected sockets: ours, and the store's (which never answers)."""
    ours, theirs = socket.socketpair()
    ours.settimeout(5)  # the test's own bound, far above the statement bound
    yield ours, theirs
    ours.close()
    theirs.close()


def test_a_call_past_the_bound_has_its_blocked_read_ended(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, _ = pair
    bound = StatementBound(0.1)
    connection = _Connection(ours)  # watched weakly: the pool or the caller holds it
    bound.watch(connection)
    started = time.monotonic()
    with bound.call():
        assert ours.recv(1) == b""  # shut: the read returns instead of waiting for an answer
    assert time.monotonic() - started < 2.0
    assert bound.cut


def test_a_call_within_the_bound_leaves_the_connection_usable(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    bound = StatementBound(0.05)
    connection = _Connection(ours)
    bound.watch(connection)
    with bound.call():
        theirs.send(b"x")
        assert ours.recv(1) == b"x"
    time.sleep(0.15)  # past the bound, after the call ended: nothing is shut
    assert not bound.cut
    theirs.send(b"y")
    assert ours.recv(1) == b"y"


def test_the_server_side_bound_is_the_same_in_milliseconds() -> None:
    assert StatementBound(1.5).options == "-c statement_timeout=1500"
    assert StatementBound(0.0001).milliseconds == 1
