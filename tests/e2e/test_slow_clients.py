"""Slow clients: headers and bodies have deadlines; the management API has a body limit."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RunningGateway, start_gateway
from tests.e2e.management.support import ADMIN, CONFIG, Api
from tests.loops import collect_earlier_garbage

HEADER_S = 1.0
BODY_S = 1.5


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """A gateway with short read deadlines and a 1 KiB management body limit."""
    tmp: Path = tmp_path_factory.mktemp("slow")
    running = start_gateway(
        f"sqlite:///{tmp}/ledger.sqlite",
        CONFIG,
        tmp,
        admin_token=ADMIN,
        header_read_timeout_s=HEADER_S,
        body_read_timeout_s=BODY_S,
        management_max_body_bytes=1024,
    )
    yield running
    running.stop()


def connect(gateway: RunningGateway) -> socket.socket:
    """A raw TCP connection to the gateway (reads give up after 10 s)."""
    host, port = gateway.url.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)), timeout=10)
    return conn


def dribble_until_closed(conn: socket.socket, chunks: Iterator[bytes], every: float) -> bytes:
    """Send a chunk each `every` s until the server closes; returns what it answered."""
    conn.settimeout(every)
    answer = b""
    for chunk in chunks:
        try:
            conn.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            break
        try:
            data = conn.recv(4096)
        except TimeoutError:
            continue
        except ConnectionResetError:
            break
        if not data:
            break
        answer += data
    return answer


def forever(byte: bytes) -> Iterator[bytes]:
    """The same byte, as long as anyone asks (each test is bounded by the deadline)."""
    while True:
        yield byte


def test_a_client_dribbling_headers_is_answered_408_and_closed(gateway: RunningGateway) -> None:
    conn = connect(gateway)
    conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    started = time.monotonic()

    answer = dribble_until_closed(conn, forever(b"a"), 0.2)

    elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert HEADER_S - 0.3 < elapsed < HEADER_S + 2
    conn.close()


def test_a_connection_that_sends_nothing_is_closed_after_the_header_deadline(
    gateway: RunningGateway,
) -> None:
    conn = connect(gateway)
    started = time.monotonic()
    answer = conn.recv(4096)  # blocks until the server gives up on the headers
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < HEADER_S + 2
    conn.close()


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/governance/customers"])
def test_a_client_dribbling_its_body_is_closed_at_the_body_deadline(
    gateway: RunningGateway, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    collect_earlier_garbage(caplog)
    conn = connect(gateway)
    conn.sendall(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{".encode()
    )
    started = time.monotonic()

    answer = dribble_until_closed(conn, forever(b" "), 0.2)

    elapsed = time.monotonic() - started
    assert answer == b""  # closed without an answer: the body never completed
    assert BODY_S - 0.3 < elapsed < BODY_S + 2
    conn.close()
    time.sleep(0.2)  # the application's side of the disconnect
    assert "body not complete in 1.5s" in caplog.text
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_prompt_request_on_the_same_gateway_is_unaffected(gateway: RunningGateway) -> None:
    assert Api(gateway.url).get("/healthz").status == 200
    assert Api(gateway.url).get("/api/governance/customers").status == 200


def test_a_management_body_over_the_limit_is_refused_413_in_the_api_shape(
    gateway: RunningGateway,
) -> None:
    big = {"id": "big", "name": "x" * 2000}
    answer = Api(gateway.url).post("/api/governance/customers", big)

    assert answer.status == 413
    assert answer.error == {
        "code": "body_too_large",
        "message": "the request body is larger than 1024 bytes",
    }
    assert Api(gateway.url).get("/api/governance/customers/big").status == 404


def test_a_chunked_management_body_over_the_limit_is_refused_while_read(
    gateway: RunningGateway,
) -> None:
    body = json.dumps({"id": "chunked", "name": "y" * 3000}).encode()
    conn = connect(gateway)
    head = (
        f"POST /api/governance/customers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 500]), body[i : i + 500])
        for i in range(0, len(body), 500)
    )
    conn.sendall(head + chunks + b"0\r\n\r\n")
    answer = conn.recv(65536)
    conn.close()

    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b'"code":"body_too_large"' in answer


def test_a_management_body_within_the_limit_is_accepted(gateway: RunningGateway) -> None:
    answer = Api(gateway.url).post("/api/governance/customers", {"id": "small", "name": "S"})
    assert answer.status == 201, answer.text
