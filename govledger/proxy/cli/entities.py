"""`govledger customers|teams|providers|keys`: the governance entities on a running gateway."""

from __future__ import annotations

import inspect
from typing import Annotated

import typer

from govledger.proxy.cli.client import Client, emit
from govledger.proxy.cli.options import Cursor, Data, Json, Limit, Url, guarded
from govledger.proxy.cli.records import page, parse_data, replace


def entity_app(
    name: str, path: str, columns: list[str], noun: str, filters: tuple[str, ...] = ()
) -> typer.Typer:
    """list, show, create, update and delete for one kind of governance entity; `list`
    offers only the owner `filters` (team, customer) its endpoint applies."""
    app = typer.Typer(no_args_is_help=True, help=f"Manage {name} on a running gateway.")
    base = f"/api/governance/{path}"

    def list_(
        search: Annotated[str | None, typer.Option(help="part of the id or name")] = None,
        team: Annotated[str | None, typer.Option(help="only this team's")] = None,
        customer: Annotated[str | None, typer.Option(help="only this customer's")] = None,
        limit: Limit = 100,
        cursor: Cursor = None,
        url: Url = None,
        as_json: Json = False,
    ) -> None:
        """List them, a page at a time."""
        query = {"search": search, "team_id": team, "customer_id": customer}
        page(
            Client.from_env(url),
            base,
            {**query, "limit": limit, "cursor": cursor},
            as_json,
            columns,
        )

    full = inspect.signature(list_, eval_str=True)
    offered = [
        p for n, p in full.parameters.items() if n not in ("team", "customer") or n in filters
    ]
    list_.__signature__ = full.replace(parameters=offered)  # type: ignore[attr-defined]
    app.command("list")(guarded(list_))

    @app.command()
    @guarded
    def show(entity_id: str, url: Url = None, as_json: Json = False) -> None:
        """Show one."""
        emit(Client.from_env(url).call("GET", f"{base}/{entity_id}").body, as_json)

    @app.command()
    @guarded
    def create(
        entity_id: Annotated[str | None, typer.Option("--id", help="generated if absent")] = None,
        label: Annotated[str | None, typer.Option("--name", help="its name")] = None,
        data: Data = None,
        url: Url = None,
        as_json: Json = False,
    ) -> None:
        """Create one from --data and the options; prints it (a key's value this once)."""
        body = parse_data(data)
        key = "name" if noun == "provider" else "id"
        body.update({k: v for k, v in ((key, entity_id), ("name", label)) if v is not None})
        created = Client.from_env(url).call("POST", base, body).body
        emit(created, as_json)
        if created.get("value") and not as_json:
            typer.echo(f"value shown once; store it now: {created['value']}", err=True)

    @app.command()
    @guarded
    def update(
        entity_id: str,
        label: Annotated[str | None, typer.Option("--name", help="a new name")] = None,
        data: Data = None,
        url: Url = None,
        as_json: Json = False,
    ) -> None:
        """Change fields (--data, --name); refused if someone changed it since it was read."""
        fields = parse_data(data) | ({"name": label} if label and noun != "provider" else {})
        emit(
            replace(Client.from_env(url), f"{base}/{entity_id}", lambda b: {**b, **fields}), as_json
        )

    @app.command()
    @guarded
    def delete(
        entity_id: str,
        cascade: Annotated[bool, typer.Option(help="also delete what it owns")] = False,
        url: Url = None,
    ) -> None:
        """Delete one (a team or customer that owns keys needs --cascade)."""
        query = {"cascade": "true"} if cascade else None
        Client.from_env(url).call("DELETE", f"{base}/{entity_id}", query=query)
        typer.echo(f"deleted {noun} {entity_id}")

    return app


customers = entity_app("customers", "customers", ["id", "name", "budgets", "version"], "customer")
teams = entity_app(
    "teams", "teams", ["id", "name", "customer_id", "budgets", "version"], "team", ("customer",)
)
providers = entity_app(
    "providers", "providers", ["name", "type", "base_url", "version"], "provider"
)
keys = entity_app(
    "virtual keys",
    "virtual-keys",
    ["id", "name", "value_prefix", "is_active", "team_id", "customer_id", "version"],
    "virtual key",
    ("team", "customer"),
)
KEYS = "/api/governance/virtual-keys"


@keys.command()
@guarded
def rotate(
    key_id: str,
    grace_seconds: Annotated[int, typer.Option(help="how long the old value still works")] = 0,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Give a key a new value (printed once); the old one works --grace-seconds more."""
    reply = Client.from_env(url).call(
        "POST", f"{KEYS}/{key_id}/rotate", {"grace_seconds": grace_seconds}
    )
    emit(reply.body if as_json else {"id": key_id, "value": reply.body["value"]}, as_json)


def _set_active(key_id: str, active: bool, url: str | None) -> None:
    replace(Client.from_env(url), f"{KEYS}/{key_id}", lambda b: {**b, "is_active": active})
    typer.echo(f"{'enabled' if active else 'disabled'} virtual key {key_id}")


@keys.command()
@guarded
def disable(key_id: str, url: Url = None) -> None:
    """Disable a key (it is refused until enabled)."""
    _set_active(key_id, False, url)


@keys.command()
@guarded
def enable(key_id: str, url: Url = None) -> None:
    """Enable a key."""
    _set_active(key_id, True, url)
