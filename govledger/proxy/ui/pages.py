"""The UI's routes: `/` and `/ui` lead to the app, its static files, and `/docs` served offline."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from govledger.proxy.ui.assets import Assets
from govledger.proxy.ui.headers import asset_headers, page_headers

_PLACEHOLDER = re.compile(r"\{\{\s*static:([\w./-]+)\s*\}\}")


def render(template: str, assets: Assets) -> bytes:
    """The page with each `{{ static:name }}` replaced by that file's fingerprinted URL."""
    return _PLACEHOLDER.sub(lambda found: assets.url(found.group(1)), template).encode()


def routes(assets: Assets | None = None) -> list[Route]:
    """The UI's routes, reading the static folder once."""
    files = assets or Assets()
    app_page = render(files.by_name["index.html"].body.decode(), files)
    docs_page = render(files.by_name["docs.html"].body.decode(), files)

    async def to_ui(request: Request) -> Response:
        return RedirectResponse("/ui/", status_code=307)

    async def ui(request: Request) -> Response:
        return Response(app_page, media_type="text/html; charset=utf-8", headers=page_headers())

    async def docs(request: Request) -> Response:
        return Response(docs_page, media_type="text/html; charset=utf-8", headers=page_headers())

    async def static(request: Request) -> Response:
        asset = files.find(request.path_params["digest"], request.path_params["name"])
        if asset is None:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(asset.body, media_type=asset.media_type, headers=asset_headers())

    return [
        Route("/", to_ui, methods=["GET"], include_in_schema=False),
        Route("/ui", to_ui, methods=["GET"], include_in_schema=False),
        Route("/ui/", ui, methods=["GET"], include_in_schema=False),
        Route("/docs", docs, methods=["GET"], include_in_schema=False),
        Route(
            "/ui/static/{digest:str}/{name:path}", static, methods=["GET"], include_in_schema=False
        ),
    ]
