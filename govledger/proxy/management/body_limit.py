"""The largest body the management API reads: larger ones are refused (413) unread."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from govledger.proxy.management.errors import ApiError, error_response

PREFIX = "/api/"


def too_large(limit: int) -> ApiError:
    """The refusal of a body over `limit` bytes."""
    return ApiError(413, "body_too_large", f"the request body is larger than {limit} bytes")


class BodyLimit:
    """Refuse /api bodies over `limit` bytes: by Content-Length before reading, else while
    reading (chunked), buffering at most `limit` bytes before the routers parse it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        whole: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([whole], receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = too_large(self.limit)
        response = error_response(error)
        response.headers["connection"] = "close"  # the rest of the body is never read
        await response(scope, receive, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive that returns the buffered messages, then defers to the server's."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
