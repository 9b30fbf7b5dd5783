"""The documented shapes of the management API's answers (OpenAPI only: routers return
their own JSON). Extra fields are forbidden, so the schemathesis test would catch a field
that should not be shown, such as a hash."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, create_model

Json = dict[str, Any]


class Shown(BaseModel):
    """Base of every documented answer: exactly these fields."""

    model_config = ConfigDict(extra="forbid")


class Customer(Shown):
    """A customer as shown."""

    id: str
    name: str
    budgets: list[Json]
    version: int
    managed_by: str  # config (a file declares it) | api | cli | ui


class Team(Customer):
    """A team as shown."""

    customer_id: str | None
    personal_keys: Json | None = None  # what members may give their own keys (identity.md)


class RetiredValue(Shown):
    """A rotated-out key value still accepted until `until`."""

    value_prefix: str
    until: str


class VirtualKey(Shown):
    """A virtual key as shown: its prefix, never its value (except `value` once)."""

    id: str
    name: str
    description: str
    value_prefix: str
    is_active: bool
    expires_at: str | None
    team_id: str | None
    customer_id: str | None
    user_id: str | None = None  # the user who owns the key, if any
    provider_configs: list[Json]
    budgets: list[Json]
    rate_limit: Json | None
    mcp_configs: list[Json]
    routing: str | None = None  # absent: the gateway's default routing
    adaptive: Json | None = None  # the key's own adaptive weight parameters, if any
    retired: list[RetiredValue]
    version: int
    managed_by: str
    value: str | None = None


class ProviderKey(Shown):
    """An upstream key as shown: how its value is stored (and its reference), never the value."""

    id: str
    weight: float
    models: list[str]
    stored_as: str
    reference: str | None = None


class Provider(Shown):
    """A provider as shown."""

    id: str
    name: str
    type: str
    base_url: str
    keys: list[ProviderKey]
    version: int
    managed_by: str


class AdminToken(Shown):
    """An admin token as shown (`token` only once, at issue)."""

    id: str
    name: str
    role: str
    token_prefix: str
    issued_at: str
    version: int
    token: str | None = None


class Role(Shown):
    """A role and its permissions."""

    id: str
    name: str
    permissions: list[str]
    rank: int | None = None
    builtin: bool
    version: int


class Figures(Shown):
    """A budget's or a rate limit's figures in its current period."""

    id: str
    type: str
    level: str
    owner: str | None = None
    mode: str | None = None
    reset_duration: str | None = None
    kind: str | None = None
    window_seconds: float | None = None
    limit: str | int
    settled: str | int
    reserved: str | int
    remaining: str | int
    period_start: str
    period_end: str


class KeyFigures(Shown):
    """A key's budgets and rate limits at every level."""

    virtual_key_id: str
    name: str
    is_active: bool
    team_id: str | None
    customer_id: str | None
    at: str
    budgets: list[Figures]
    rate_limits: list[Figures]


def page_of(item: type[BaseModel]) -> type[BaseModel]:
    """The list envelope of one kind of item."""
    fields: Any = {"data": (list[item], ...), "next_cursor": (str | None, None)}  # type: ignore[valid-type]
    model: type[BaseModel] = create_model(
        f"{item.__name__}Page", __config__=ConfigDict(extra="forbid"), **fields
    )
    return model


def ok(model: type[BaseModel], status: int = 200) -> dict[int | str, Json]:
    """`responses=` documenting a successful answer."""
    return {status: {"model": model}}
