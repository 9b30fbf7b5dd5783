"""`govledger roles|tokens`: who may use the management API, on a running gateway."""

from __future__ import annotations

from typing import Annotated

import typer

from govledger.proxy.cli.client import Client, emit
from govledger.proxy.cli.options import Json, Url, guarded
from govledger.proxy.cli.records import page, replace

roles = typer.Typer(no_args_is_help=True, help="Manage roles (built-in and custom).")
Permission = Annotated[
    list[str] | None, typer.Option("--permission", help="resource:operation (repeatable)")
]


@roles.command("list")
@guarded
def list_roles(url: Url = None, as_json: Json = False) -> None:
    """List the built-in and custom roles."""
    reply = Client.from_env(url).call("GET", "/api/roles")
    emit(reply.body if as_json else reply.body["data"], as_json, ["name", "builtin", "permissions"])


@roles.command("show")
@guarded
def show_role(name: str, url: Url = None, as_json: Json = False) -> None:
    """Show one role."""
    emit(Client.from_env(url).call("GET", f"/api/roles/{name}").body, as_json)


@roles.command("create")
@guarded
def create_role(
    name: str, permission: Permission = None, url: Url = None, as_json: Json = False
) -> None:
    """Create a custom role."""
    body = {"name": name, "permissions": permission or []}
    emit(Client.from_env(url).call("POST", "/api/roles", body).body, as_json)


@roles.command("update")
@guarded
def update_role(
    name: str, permission: Permission = None, url: Url = None, as_json: Json = False
) -> None:
    """Replace a custom role's permissions."""
    change = {"permissions": permission or []}
    emit(replace(Client.from_env(url), f"/api/roles/{name}", lambda b: {**b, **change}), as_json)


@roles.command("delete")
@guarded
def delete_role(name: str, url: Url = None) -> None:
    """Delete a custom role (refused while a token has it)."""
    Client.from_env(url).call("DELETE", f"/api/roles/{name}")
    typer.echo(f"deleted role {name}")


tokens = typer.Typer(no_args_is_help=True, help="Issue, list and revoke admin tokens.")


@tokens.command("list")
@guarded
def list_tokens(url: Url = None, as_json: Json = False) -> None:
    """List live admin tokens (prefixes only)."""
    columns = ["name", "role", "token_prefix", "issued_at"]
    page(Client.from_env(url), "/api/admin-tokens", {"limit": 1000}, as_json, columns)


@tokens.command("create")
@guarded
def create_token(
    name: str,
    role: Annotated[str, typer.Option(help="Admin, Developer, Viewer or a custom role")],
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Issue a token; it is printed this once."""
    body = Client.from_env(url).call("POST", "/api/admin-tokens", {"name": name, "role": role}).body
    emit(body if as_json else {"name": name, "role": role, "token": body["token"]}, as_json)


@tokens.command("delete")
@guarded
def delete_token(name: str, url: Url = None) -> None:
    """Revoke a token."""
    Client.from_env(url).call("DELETE", f"/api/admin-tokens/{name}")
    typer.echo(f"revoked admin token {name}")
