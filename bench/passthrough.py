"""The Python ceiling for compare.sh: a bare ASGI passthrough, no governance at all.

    .venv/bin/uvicorn --app-dir bench passthrough:app --port 18500 --loop uvloop --http httptools

The same server (uvicorn, uvloop, httptools) and client (one kept aiohttp session) as the
gateway, forwarding each POST body to the upstream (`PASSTHROUGH_UPSTREAM`, default the
bench's nginx) and its answer back. What the gateway costs beyond this is its own work.
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp

UPSTREAM = os.environ.get("PASSTHROUGH_UPSTREAM", "http://127.0.0.1:18080/v1/chat/completions")
HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-upstream-bench"}
Message = dict[str, Any]


class Passthrough:
    """An ASGI app that forwards the body to UPSTREAM over one kept session."""

    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if self.session is None:
            self.session = aiohttp.ClientSession()
        async with self.session.post(UPSTREAM, data=body, headers=HEADERS) as answer:
            data = await answer.read()
            status = answer.status
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    async def lifespan(self, receive: Any, send: Any) -> None:
        """Start at once; close the session at shutdown."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.session is not None:
                    await self.session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


app = Passthrough()
