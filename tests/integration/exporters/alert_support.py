"""A local HTTP receiver for alert channels, served by aiohttp on its own thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from aiohttp import web

from tests.conftest import free_port
from tests.loops import close_loop


class Receiver:
    """Takes POSTs on any path; answers each with the next of `statuses`, then `ok`."""

    def __init__(self, statuses: list[int] | None = None, ok: int = 200) -> None:
        self.statuses = statuses or []
        self.ok = ok
        self.got: list[dict[str, Any]] = []
        self.port = free_port()

    async def take(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.got.append({"path": request.path, "headers": headers, "body": body})
        return web.Response(status=self.statuses.pop(0) if self.statuses else self.ok)

    def url(self, path: str = "/hook") -> str:
        """The receiver's URL for a path."""
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self) -> list[Any]:
        """Every JSON body received, in order."""
        return [orjson.loads(r["body"]) for r in self.got]


@contextmanager
def serving(target: Receiver) -> Iterator[Receiver]:
    """Serve a receiver until the block ends."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        application = web.Application()
        application.router.add_post("/{tail:.*}", target.take)
        runner = web.AppRunner(application, access_log=None)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", target.port).start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        close_loop(loop)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield target
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
