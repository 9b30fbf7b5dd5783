"""/api/governance/providers: upstream vendors and their keys, whose values are write-only."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.responses import Response

from govledger.ledger import commands
from govledger.ledger.config import PROVIDER_NAME, ProviderKeySpec, ProviderSpec
from govledger.ledger.secrets.managers import Managers
from govledger.ledger.secrets.references import is_reference
from govledger.ledger.secrets.resolver import SecretUnavailableError
from govledger.proxy.management import crud, schemas
from govledger.proxy.management.auth import Principal, management, require
from govledger.proxy.management.errors import ApiError, invalid

KIND = "provider"


class ProviderKeyBody(ProviderKeySpec):
    """An upstream key; on replace, a key without `value` keeps its stored one."""

    value: str | None = Field(None, min_length=1)  # type: ignore[assignment]
    reference: str | None = Field(
        None, description="read-only, as shown: ignored (set a reference as `value`)"
    )


class ProviderBody(ProviderSpec):
    """A provider; its `name` is its id (taken from the path on replace)."""

    name: str | None = Field(None, pattern=PROVIDER_NAME)  # type: ignore[assignment]
    keys: list[ProviderKeyBody] = Field(min_length=1)  # type: ignore[assignment]


def _raw(body: ProviderBody) -> dict[str, Any]:
    raw = body.model_dump(exclude_none=False)
    for key in raw["keys"]:
        key.pop("reference", None)  # read-only: shown on GET, so a GET body stays a PUT body
    return raw


PAGE = schemas.page_of(schemas.Provider)

VerifyQuery = Annotated[
    bool,
    Query(description="resolve each referenced key now and refuse (422) one that cannot be"),
]


async def verify_references(managers: Managers, body: ProviderBody) -> None:
    """Resolve every referenced key of the body (off the loop); 422 naming each that fails."""
    problems = []
    for index, key in enumerate(body.keys):
        if key.value is None or not is_reference(key.value):
            continue
        try:
            await asyncio.to_thread(managers.resolve, key.value)
        except SecretUnavailableError as error:
            problems.append((f"keys[{index}].value", f"{key.value}: {error}"))
    if problems:
        raise ApiError(
            422,
            "secret_unresolved",
            f"{len(problems)} secret reference(s) could not be resolved: {problems[0][1]}",
            problems,
        )


def router() -> APIRouter:
    """The providers' endpoints."""
    api = APIRouter(prefix="/api/governance/providers", tags=["providers"])

    @api.get("", responses=schemas.ok(PAGE))
    async def list_providers(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: str | None = None,
        search: str | None = None,
        who: Principal = require("providers:view"),
    ) -> Response:
        """Providers by name, a page at a time; `search` matches the name."""
        return crud.list_response(
            management(request), KIND, limit, cursor, lambda i, d: crud.matches(search, i, d)
        )

    @api.post("", status_code=201, responses=schemas.ok(schemas.Provider, 201))
    async def create_provider(
        request: Request,
        body: ProviderBody,
        verify: VerifyQuery = False,
        who: Principal = require("providers:create"),
    ) -> Response:
        """Configure a provider; key values are encrypted, references (docs/secrets.md) kept
        as they are and resolved only with `?verify=true`."""
        service = management(request)
        if body.name is None:
            raise invalid([("name", "a provider needs a name (its id)")])
        commands.check_absent(service.state, KIND, body.name)
        if verify:
            await verify_references(service.runtime.managers, body)
        _, data = commands.provider_data(
            service.state, _raw(body), service.runtime.governance.box, body.name
        )
        return await crud.create(service, who, KIND, body.name, data)

    @api.get("/{name}", responses=schemas.ok(schemas.Provider))
    async def show_provider(
        request: Request, name: str, who: Principal = require("providers:view")
    ) -> Response:
        """One provider (its keys without their values)."""
        return crud.show(management(request), KIND, name)

    @api.put("/{name}", responses=schemas.ok(schemas.Provider))
    async def replace_provider(
        request: Request,
        name: str,
        body: ProviderBody,
        verify: VerifyQuery = False,
        who: Principal = require("providers:update"),
    ) -> Response:
        """Replace a provider; keys without `value` keep theirs; If-Match refuses stale edits;
        `?verify=true` resolves the referenced keys first."""
        service = management(request)
        crud.check_path_id(body.name, name, "name")
        if verify:
            await verify_references(service.runtime.managers, body)
        box = service.runtime.governance.box
        return await crud.replace(
            service,
            who,
            KIND,
            name,
            crud.if_match(request),
            lambda: commands.provider_data(service.state, _raw(body), box, name)[1],
        )

    @api.delete("/{name}", status_code=204)
    async def delete_provider(
        request: Request, name: str, who: Principal = require("providers:delete")
    ) -> Response:
        """Remove a provider; 409 while a virtual key routes to it."""
        return await crud.remove(management(request), who, KIND, name, crud.if_match(request))

    return api
