"""/api/governance/customers: list, create, show, replace, delete (cascade to what it owns)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.responses import Response

from govledger.ledger import commands
from govledger.ledger.config import IDENTIFIER, CustomerSpec
from govledger.proxy.management import crud, schemas
from govledger.proxy.management.auth import Principal, management, require

KIND = "customer"


class CustomerBody(CustomerSpec):
    """A customer; `id` is generated when a create omits it."""

    id: str | None = Field(None, pattern=IDENTIFIER)  # type: ignore[assignment]


PAGE = schemas.page_of(schemas.Customer)


def router() -> APIRouter:
    """The customers' endpoints."""
    api = APIRouter(prefix="/api/governance/customers", tags=["customers"])

    @api.get("", responses=schemas.ok(PAGE))
    async def list_customers(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: str | None = None,
        search: str | None = None,
        who: Principal = require("customers:view"),
    ) -> Response:
        """Customers by id, a page at a time; `search` matches id or name."""
        return crud.list_response(
            management(request), KIND, limit, cursor, lambda i, d: crud.matches(search, i, d)
        )

    @api.post("", status_code=201, responses=schemas.ok(schemas.Customer, 201))
    async def create_customer(
        request: Request, body: CustomerBody, who: Principal = require("customers:create")
    ) -> Response:
        """Create a customer; returns it with its id and version."""
        service = management(request)
        spec = CustomerSpec.model_validate(
            {**body.model_dump(), "id": body.id or crud.new_id(KIND)}
        )
        data = commands.customer_data(service.state, spec, service.clock())
        return await crud.create(service, who, KIND, spec.id, data)

    @api.get("/{customer_id}", responses=schemas.ok(schemas.Customer))
    async def show_customer(
        request: Request, customer_id: str, who: Principal = require("customers:view")
    ) -> Response:
        """One customer."""
        return crud.show(management(request), KIND, customer_id)

    @api.put("/{customer_id}", responses=schemas.ok(schemas.Customer))
    async def replace_customer(
        request: Request,
        customer_id: str,
        body: CustomerBody,
        who: Principal = require("customers:update"),
    ) -> Response:
        """Replace a customer's fields; `If-Match: "<version>"` refuses a stale edit (412)."""
        service = management(request)
        crud.check_path_id(body.id, customer_id)
        spec = CustomerSpec.model_validate({**body.model_dump(), "id": customer_id})
        return await crud.replace(
            service,
            who,
            KIND,
            customer_id,
            crud.if_match(request),
            lambda: commands.customer_data(service.state, spec, service.clock()),
        )

    @api.delete("/{customer_id}", status_code=204)
    async def delete_customer(
        request: Request,
        customer_id: str,
        cascade: bool = False,
        who: Principal = require("customers:delete"),
    ) -> Response:
        """Delete a customer; 409 while it owns teams or keys, unless `cascade=true`."""
        return await crud.remove(
            management(request), who, KIND, customer_id, crud.if_match(request), cascade
        )

    return api
