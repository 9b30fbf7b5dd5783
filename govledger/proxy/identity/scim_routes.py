"""/scim/v2: SCIM 2.0 provisioning (RFC 7644) of users and groups, as Okta and Entra send it.

Authenticated by an admin token whose role grants `teams:update` (a SCIM token is issued like
any admin token). Deprovisioning (`active: false`, or DELETE) ends the user's sessions in the
same append and stops their personal keys at once on every instance (their policy compiles
inactive). Errors are SCIM errors (`urn:ietf:params:scim:api:messages:2.0:Error`).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from scim2_models import Context, Group, PatchOp
from starlette.responses import Response

from govledger.ledger import events as ev
from govledger.ledger.commands import (
    Author,
    CommandError,
    StillInUseError,
    delete,
    event,
    team_data,
)
from govledger.ledger.config import TeamSpec
from govledger.ledger.entities import stream_id
from govledger.ledger.governance import ConcurrentChangeError
from govledger.ledger.sessions import end_session, sessions_of
from govledger.ledger.users import KIND, Profile, sync_user
from govledger.proxy.identity import scim_resources as res
from govledger.proxy.management.auth import deny, management, principal_for
from govledger.proxy.management.errors import ApiError
from govledger.proxy.management.service import Management

MEDIA = "application/scim+json"
MAX_BODY = 1024 * 1024
FILTER = re.compile(r'^\s*(userName|externalId|displayName)\s+eq\s+"([^"]*)"\s*$', re.I)
PERMISSION = "teams:update"
Handler = Callable[[Request, Management, Author], Awaitable[Response]]


class ScimError(Exception):
    """A SCIM refusal: status, scimType, detail."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.scim_type = status, detail, scim_type


def scim(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A SCIM JSON answer."""
    return Response(json.dumps(content), status, headers=headers, media_type=MEDIA)


def error_response(error: ScimError) -> Response:
    """The SCIM error body."""
    body: dict[str, Any] = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": str(error.status),
        "detail": error.detail,
    }
    if error.scim_type:
        body["scimType"] = error.scim_type
    return scim(body, error.status)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ScimError(413, f"a SCIM body is at most {MAX_BODY} bytes", "tooLarge")
    try:
        body = json.loads(raw)
    except ValueError:
        raise ScimError(400, "the body is not JSON", "invalidSyntax") from None
    if not isinstance(body, dict):
        raise ScimError(400, "the body is not a JSON object", "invalidSyntax")
    return body


def _invalid(error: ValidationError) -> ScimError:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    kind = "invalidSyntax" if first["type"] == "extra_forbidden" else "invalidValue"
    return ScimError(400, f"{where}: {first['msg']}", kind)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/scim/v2"


def _user(service: Management, user_id: str) -> dict[str, Any]:
    data = service.state.get(KIND, user_id)
    if data is None:
        raise ScimError(404, f"no user {user_id!r}")
    return data


def _group(service: Management, request: Request) -> str:
    team_id: str = request.path_params["group_id"]
    if service.state.get("team", team_id) is None:
        raise ScimError(404, f"no group {team_id!r}")
    return team_id


def _user_answer(request: Request, service: Management, user_id: str, status: int) -> Response:
    data = _user(service, user_id)
    body = res.user_resource(user_id, data, service.state.version(KIND, user_id), _base(request))
    return scim(body, status, {"location": body["meta"]["location"]})


def _sessions_end(service: Management, user_id: str, author: Author) -> list[ev.EntityEvent]:
    now = service.clock()
    return [
        end_session(service.state, s, "deprovisioned", author, now)
        for s in sessions_of(service.state, "user", user_id)
    ]


async def _provision(service: Management, user_id: str, profile: Profile, author: Author) -> None:
    """Sync a user from SCIM; deactivation ends their sessions in the same append."""
    others = service.state.live(KIND)
    name = profile.personal["user_name"]
    if any(d["personal"]["user_name"] == name for u, d in others.items() if u != user_id):
        raise ScimError(409, f"userName {name!r} is taken", "uniqueness")
    events = sync_user(service.state, user_id, "scim", profile, author, service.clock())
    if not profile.active:
        events += _sessions_end(service, user_id, author)
    if events:
        await service.commit(events)


def _list(request: Request, items: list[dict[str, Any]]) -> Response:
    start = max(int(request.query_params.get("startIndex", "1") or 1), 1)
    count = min(max(int(request.query_params.get("count", "100") or 100), 0), res.MAX_RESULTS)
    page = items[start - 1 : start - 1 + count]
    return scim(
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": len(items),
            "startIndex": start,
            "itemsPerPage": len(page),
            "Resources": page,
        }
    )


def _filter(request: Request) -> tuple[str, str] | None:
    text = request.query_params.get("filter")
    if text is None:
        return None
    found = FILTER.match(text)
    if found is None:
        raise ScimError(400, 'only `userName|externalId|displayName eq "…"`', "invalidFilter")
    return found.group(1).lower(), found.group(2)


def entra_removals(body: dict[str, Any]) -> dict[str, Any]:
    """Entra ID removes members as `{"op": "Remove", "path": "members", "value": [{"value":
    id}]}`, which RFC 7644 writes `"path": "members[value eq \"id\"]"`: rewrite it so."""
    operations = []
    for op in body.get("Operations") or []:
        value = op.get("value") if isinstance(op, dict) else None
        if (
            isinstance(op, dict)
            and str(op.get("op", "")).lower() == "remove"
            and op.get("path") == "members"
            and isinstance(value, list)
        ):
            for member in value:
                ident = member.get("value") if isinstance(member, dict) else None
                if not isinstance(ident, str) or '"' in ident:
                    raise ScimError(400, "a member to remove needs a value", "invalidValue")
                operations.append({"op": "remove", "path": f'members[value eq "{ident}"]'})
        else:
            operations.append(op)
    return {**body, "Operations": operations}


def _members(group: Group) -> set[str]:
    return {m.value for m in group.members or [] if m.value}


async def _set_members(service: Management, team_id: str, wanted: set[str], author: Author) -> None:
    """Join and leave users so the team's members are `wanted` (one append)."""
    state, now = service.state, service.clock()
    events: list[ev.EntityEvent] = []
    for user_id, data in sorted(state.live(KIND).items()):
        teams = set(data["teams"])
        after = teams | {team_id} if user_id in wanted else teams - {team_id}
        if after != teams:
            profile = Profile(
                personal=data["personal"],
                teams=tuple(sorted(after)),
                active=data["active"],
            )
            events += sync_user(state, user_id, data["idp"], profile, author, now)
    missing = wanted - set(state.live(KIND))
    if missing:
        raise ScimError(400, f"no user {sorted(missing)[0]!r}", "invalidValue")
    if events:
        await service.commit(events)


def router() -> APIRouter:
    """The SCIM endpoints."""
    api = APIRouter(prefix="/scim/v2", tags=["scim"])

    def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            service = management(request)
            try:
                try:
                    who = await principal_for(request)
                    if PERMISSION not in who.permissions:
                        await deny(service, who, PERMISSION, request)
                except ApiError as error:
                    raise ScimError(error.status, error.message) from None
                return await handler(request, service, Author(who.actor, "scim"))
            except ScimError as error:
                return error_response(error)
            except ValidationError as error:
                return error_response(_invalid(error))
            except StillInUseError as error:
                return error_response(ScimError(409, str(error), "mutability"))
            except (CommandError, ConcurrentChangeError) as error:
                return error_response(ScimError(409, str(error)))
            except ValueError:
                return error_response(ScimError(400, "a bad parameter", "invalidValue"))

        run.__name__ = handler.__name__
        run.__doc__ = handler.__doc__
        return run

    def route(path: str, method: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            api.add_api_route(  # SCIM documents itself (/Schemas), not in the OpenAPI document
                path,
                endpoint(handler),
                methods=[method],
                name=handler.__name__,
                include_in_schema=False,
            )
            return handler

        return register

    @route("/ServiceProviderConfig", "GET")
    async def scim_service_provider_config(
        request: Request, service: Management, who: Author
    ) -> Response:
        """What this SCIM service supports."""
        return scim(res.service_provider_config(_base(request)))

    @route("/ResourceTypes", "GET")
    async def scim_resource_types(request: Request, service: Management, who: Author) -> Response:
        """User and Group."""
        return _list(request, res.resource_types(_base(request)))

    @route("/Schemas", "GET")
    async def scim_schemas(request: Request, service: Management, who: Author) -> Response:
        """The schemas of User, EnterpriseUser and Group."""
        return _list(request, res.schemas())

    @route("/Users", "POST")
    async def scim_create_user(request: Request, service: Management, who: Author) -> Response:
        """Provision a user (201)."""
        body = res.ScimUser.model_validate(
            await _body(request), scim_ctx=Context.RESOURCE_CREATION_REQUEST
        )
        user_id = uuid.uuid4().hex
        await _provision(service, user_id, res.profile_of(body), who)
        return _user_answer(request, service, user_id, 201)

    @route("/Users", "GET")
    async def scim_list_users(request: Request, service: Management, who: Author) -> Response:
        """Users, optionally `filter=userName eq "…"` (or externalId)."""
        wanted = _filter(request)
        base = _base(request)
        items = []
        for user_id, data in sorted(service.state.live(KIND).items()):
            if wanted is not None:
                field, value = wanted
                have = (
                    data["personal"]["user_name"]
                    if field == "username"
                    else data.get("external_id")
                )
                if field == "displayname" or (have or "").lower() != value.lower():
                    continue
            version = service.state.version(KIND, user_id)
            items.append(res.user_resource(user_id, data, version, base))
        return _list(request, items)

    @route("/Users/{user_id}", "GET")
    async def scim_get_user(request: Request, service: Management, who: Author) -> Response:
        """One user."""
        return _user_answer(request, service, request.path_params["user_id"], 200)

    @route("/Users/{user_id}", "PUT")
    async def scim_replace_user(request: Request, service: Management, who: Author) -> Response:
        """Replace a user's attributes (`active: false` deprovisions)."""
        user_id = request.path_params["user_id"]
        _user(service, user_id)
        body = res.ScimUser.model_validate(
            await _body(request), scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST
        )
        await _provision(service, user_id, res.profile_of(body), who)
        return _user_answer(request, service, user_id, 200)

    @route("/Users/{user_id}", "PATCH")
    async def scim_patch_user(request: Request, service: Management, who: Author) -> Response:
        """Patch a user as Okta and Entra send it (`replace` of `active`, names, e-mails)."""
        user_id = request.path_params["user_id"]
        data = _user(service, user_id)
        patch = PatchOp[res.ScimUser].model_validate(
            await _body(request), scim_ctx=Context.RESOURCE_PATCH_REQUEST
        )
        current = res.ScimUser.model_validate(
            res.user_resource(user_id, data, 0, _base(request)),
            scim_ctx=Context.RESOURCE_QUERY_RESPONSE,
        )
        patch.patch(current)
        await _provision(service, user_id, res.profile_of(current), who)
        return _user_answer(request, service, user_id, 200)

    @route("/Users/{user_id}", "DELETE")
    async def scim_delete_user(request: Request, service: Management, who: Author) -> Response:
        """Delete a user: their sessions end and their personal keys stop (204)."""
        user_id = request.path_params["user_id"]
        data = _user(service, user_id)
        now = service.clock()
        events = _sessions_end(service, user_id, who)
        events.append(
            ev.UserDeleted(
                originator_id=stream_id(KIND, user_id),
                originator_version=service.state.version(KIND, user_id) + 1,
                timestamp=now,
                actor=who.actor,
                source=who.source,
                entity_id=user_id,
                data={**data, "active": False},
                managed_by=service.state.manager(KIND, user_id) or "scim",
            )
        )
        await service.commit(events)
        return Response(status_code=204)

    @route("/Groups", "POST")
    async def scim_create_group(request: Request, service: Management, who: Author) -> Response:
        """Provision a group: a team, and its members joined to it (201)."""
        group = Group.model_validate(
            await _body(request), scim_ctx=Context.RESOURCE_CREATION_REQUEST
        )
        team_id = f"scim-{uuid.uuid4().hex[:12]}"
        name = group.display_name or team_id
        now = service.clock()
        data = team_data(service.state, TeamSpec(id=team_id, name=name), now)
        await service.commit([event(service.state, "team", "created", team_id, data, who, now)])
        await _set_members(service, team_id, _members(group), who)
        body = res.group_resource(service.state, team_id, _base(request))
        return scim(body, 201, {"location": body["meta"]["location"]})

    @route("/Groups", "GET")
    async def scim_list_groups(request: Request, service: Management, who: Author) -> Response:
        """Teams as groups, optionally `filter=displayName eq "…"`."""
        wanted = _filter(request)
        base = _base(request)
        items = [
            res.group_resource(service.state, team_id, base)
            for team_id, data in sorted(service.state.live("team").items())
            if wanted is None or (wanted[0] == "displayname" and data["name"] == wanted[1])
        ]
        return _list(request, items)

    @route("/Groups/{group_id}", "GET")
    async def scim_get_group(request: Request, service: Management, who: Author) -> Response:
        """One group."""
        team_id = _group(service, request)
        return scim(res.group_resource(service.state, team_id, _base(request)))

    @route("/Groups/{group_id}", "PATCH")
    async def scim_patch_group(request: Request, service: Management, who: Author) -> Response:
        """Add or remove members as Okta and Entra send it."""
        team_id = _group(service, request)
        patch = PatchOp[Group].model_validate(
            entra_removals(await _body(request)), scim_ctx=Context.RESOURCE_PATCH_REQUEST
        )
        current = Group.model_validate(
            res.group_resource(service.state, team_id, _base(request)),
            scim_ctx=Context.RESOURCE_QUERY_RESPONSE,
        )
        if current.members is None:
            current.members = []
        patch.patch(current)
        await _set_members(service, team_id, _members(current), who)
        return scim(res.group_resource(service.state, team_id, _base(request)))

    @route("/Groups/{group_id}", "DELETE")
    async def scim_delete_group(request: Request, service: Management, who: Author) -> Response:
        """Members leave, then the team is deleted (409 while it owns keys)."""
        team_id = _group(service, request)
        delete(service.state, "team", team_id, who, service.clock(), None, False)  # checks use
        await _set_members(service, team_id, set(), who)
        await service.commit(delete(service.state, "team", team_id, who, service.clock()))
        return Response(status_code=204)

    return api
