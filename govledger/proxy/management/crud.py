"""The shared steps of the entity endpoints: list with paging, show, create, replace, delete."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from govledger.ledger import commands
from govledger.ledger.commands import Author
from govledger.proxy.management.auth import Principal
from govledger.proxy.management.errors import ApiError, JSONResponse, invalid
from govledger.proxy.management.service import Management
from govledger.proxy.management.shapes import public

Data = dict[str, Any]
_ETAG = re.compile(r'^\s*(?:W/)?"?(\d+)"?\s*$')


def author(who: Principal) -> Author:
    """The author of a change made through the API."""
    return Author(who.actor, who.source)


def new_id(kind: str) -> str:
    """An id for an entity created without one, e.g. `team-3f9c0a1b2d4e`."""
    return f"{kind.replace('_', '-')}-{uuid.uuid4().hex[:12]}"


def if_match(request: Request) -> int | None:
    """The version in If-Match (`3`, `"3"` or `W/"3"`), or None if absent."""
    value = request.headers.get("if-match")
    if value is None:
        return None
    found = _ETAG.match(value)
    if found is None:
        raise invalid([("If-Match", 'must be the entity\'s version, e.g. "3"')])
    return int(found.group(1))


DECLARABLE = ("customer", "team", "provider", "virtual_key")  # the kinds a file declares


def shown(service: Management, kind: str, entity_id: str, data: Data | None, version: int) -> Data:
    """The public shape, with `managed_by` for the kinds a config file can declare."""
    body = public(kind, entity_id, data, version)
    if kind in DECLARABLE and body:
        body["managed_by"] = service.state.manager(kind, entity_id)
    return body


def entity_response(
    service: Management, kind: str, entity_id: str, status: int = 200, extra: Data | None = None
) -> Response:
    """The entity with its version (and `extra` fields), and the version as ETag."""
    version = service.state.version(kind, entity_id)
    body = shown(service, kind, entity_id, service.state.get(kind, entity_id), version)
    return JSONResponse(
        {**body, **(extra or {})}, status_code=status, headers={"etag": f'"{version}"'}
    )


def page(
    items: dict[str, Data],
    limit: int,
    cursor: str | None,
    keep: Callable[[str, Data], bool],
) -> tuple[list[str], str | None]:
    """Ids in order after the cursor (the last id of the previous page), and the next cursor."""
    ids = sorted(i for i, d in items.items() if (cursor is None or i > cursor) and keep(i, d))
    shown = ids[:limit]
    return shown, (shown[-1] if len(ids) > limit else None)


def matches(search: str | None, entity_id: str, data: Data) -> bool:
    """True if `search` is in the id or the name (case-insensitive), or there is none."""
    if not search:
        return True
    needle = search.lower()
    return needle in entity_id.lower() or needle in str(data.get("name", "")).lower()


def list_response(
    service: Management,
    kind: str,
    limit: int,
    cursor: str | None,
    keep: Callable[[str, Data], bool],
) -> Response:
    """One page of live entities of a kind."""
    items = service.state.live(kind)
    ids, next_cursor = page(items, limit, cursor, keep)
    data = [shown(service, kind, i, items[i], service.state.version(kind, i)) for i in ids]
    return JSONResponse({"data": data, "next_cursor": next_cursor})


def show(service: Management, kind: str, entity_id: str) -> Response:
    """One live entity, or 404."""
    commands.current(service.state, kind, entity_id, None)
    return entity_response(service, kind, entity_id)


async def create(
    service: Management,
    who: Principal,
    kind: str,
    entity_id: str,
    data: Data,
    extra: Data | None = None,
) -> Response:
    """Append the creation of an entity and return it (201), with `extra` fields."""
    commands.check_absent(service.state, kind, entity_id)
    event = commands.event(
        service.state, kind, "created", entity_id, data, author(who), service.clock()
    )
    await service.commit([event])
    return entity_response(service, kind, entity_id, 201, extra)


async def replace(
    service: Management,
    who: Principal,
    kind: str,
    entity_id: str,
    expected: int | None,
    build: Callable[[], Data],
) -> Response:
    """Append a new whole state of an entity (If-Match checked) and return it."""
    commands.current(service.state, kind, entity_id, expected)
    data = build()
    event = commands.event(
        service.state, kind, "updated", entity_id, data, author(who), service.clock()
    )
    await service.commit([event])
    return entity_response(service, kind, entity_id)


async def remove(
    service: Management,
    who: Principal,
    kind: str,
    entity_id: str,
    expected: int | None,
    cascade: bool = False,
) -> Response:
    """Append the deletion (and, with cascade, of what the entity owns); 204."""
    events = commands.delete(
        service.state, kind, entity_id, author(who), service.clock(), expected, cascade
    )
    await service.commit(events)
    return Response(status_code=204)


def check_path_id(body_id: str | None, path_id: str, field: str = "id") -> None:
    """Refuse a body whose id differs from the path's."""
    if body_id is not None and body_id != path_id:
        raise ApiError(
            422,
            "invalid_request",
            f"{field}: must be {path_id!r} (the path's id)",
            [(field, f"must be {path_id!r} (the path's id)")],
        )
