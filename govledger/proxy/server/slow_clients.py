"""Slow clients: a deadline for a request's headers and one for its body, at the HTTP protocol.

uvicorn closes idle keep-alive connections but bounds neither how long a client may take
to send its headers nor its body, so a client dribbling bytes holds a connection (and,
for the body, an ASGI task) for as long as it likes. This subclass of uvicorn's httptools
protocol arms a timer when a connection opens (or the next request's first byte arrives)
that must see the end of the headers, and one from there that must see the end of the
body. Headers too slow: `408` and the connection is closed. Body too slow: the connection
is closed, and the application sees the client disconnect.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("govledger.slow_clients")
_SLOW = b"the request headers took too long\n"
TIMEOUT_408 = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_SLOW), _SLOW)
)


class TimedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and body read deadlines (in seconds)."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def _arm(self, seconds: float, reason: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired, reason)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, reason: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.warning("closed the connection of %s: %s", client, reason)
        if reason.startswith("headers"):
            self.transport.write(TIMEOUT_408)
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the header deadline as soon as the connection opens."""
        super().connection_made(transport)
        self._arm(self.header_timeout_s, f"headers not complete in {self.header_timeout_s:g}s")

    def connection_lost(self, exc: Exception | None) -> None:
        """No deadline outlives its connection."""
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        """A request's first byte: its headers are due (a new connection's timer runs on)."""
        super().on_message_begin()
        if self._deadline is None:
            self._arm(self.header_timeout_s, f"headers not complete in {self.header_timeout_s:g}s")

    def on_headers_complete(self) -> None:
        """The headers are in: now the body is due."""
        self._arm(self.body_timeout_s, f"body not complete in {self.body_timeout_s:g}s")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """The whole request is in: no deadline until the next one begins."""
        self._disarm()
        super().on_message_complete()


def timed_protocol(header_timeout_s: float, body_timeout_s: float) -> type[HttpToolsProtocol]:
    """The protocol class to give uvicorn (`http=`) with these deadlines."""
    return type(
        "TimedHttpToolsProtocol",
        (TimedHttpToolsProtocol,),
        {"header_timeout_s": header_timeout_s, "body_timeout_s": body_timeout_s},
    )
