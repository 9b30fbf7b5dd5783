"""/api/governance/budgets and /rate-limits: every limit at every level, with its figures."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from govledger.proxy.management import figures, schemas
from govledger.proxy.management.auth import Principal, management, require
from govledger.proxy.management.errors import JSONResponse

Data = dict[str, Any]

PAGE = schemas.page_of(schemas.Figures)


def _page(rows: Iterable[Data], limit: int, cursor: str | None) -> Response:
    ordered = sorted((r for r in rows if cursor is None or r["id"] > cursor), key=lambda r: r["id"])
    shown = ordered[:limit]
    next_cursor = shown[-1]["id"] if len(ordered) > limit else None
    return JSONResponse({"data": shown, "next_cursor": next_cursor})


def _figures(
    service: Any,
    rules: Iterable[Any],
    figure: Callable[[Any, Any, Any], Data],
    level: str | None,
    search: str | None,
) -> Iterator[Data]:
    """The current figures of the rules a listing asks for (by level and id search)."""
    now = service.clock()
    usage = service.runtime.usage
    for rule in rules:
        if (level is None or rule.level == level) and (not search or search in rule.id):
            yield figure(rule, usage, now)


def router() -> APIRouter:
    """The budgets' and rate limits' endpoints (read only: limits change with their owner)."""
    api = APIRouter(prefix="/api/governance", tags=["budgets"])

    @api.get("/budgets", responses=schemas.ok(PAGE))
    async def list_budgets(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: str | None = None,
        level: str | None = None,
        search: str | None = None,
        who: Principal = require("budgets:view"),
    ) -> Response:
        """Every budget (customer, team, virtual_key, provider_config) with current figures."""
        service = management(request)
        rules = figures.all_budgets(service.state)
        rows = _figures(service, rules, figures.budget_figures, level, search)
        return _page(rows, limit, cursor)

    @api.get("/rate-limits", responses=schemas.ok(PAGE))
    async def list_rate_limits(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: str | None = None,
        level: str | None = None,
        search: str | None = None,
        who: Principal = require("budgets:view"),
    ) -> Response:
        """Every rate limit (virtual_key, provider_config) with current figures."""
        service = management(request)
        rules = figures.all_rates(service.state)
        rows = _figures(service, rules, figures.rate_figures, level, search)
        return _page(rows, limit, cursor)

    return api
