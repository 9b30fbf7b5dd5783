"""`govledger customers|teams|keys|providers|usage|audit|reports|roles|tokens`: the CLI of the
management API. Each command calls a running gateway (`--url`, `--token` or GOVLEDGER_TOKEN),
prints a table (or `--json`), and fails with one line and exit status 1.
"""

from __future__ import annotations

import functools
import inspect
import json
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from govledger.proxy.cli.client import Client, CliError, emit, given_token

P = ParamSpec("P")
R = TypeVar("R")
Url = Annotated[
    str | None, typer.Option("--url", help="the gateway (default $GOVLEDGER_URL or :8080)")
]
Json = Annotated[bool, typer.Option("--json", help="machine-readable output")]
Data = Annotated[
    str | None, typer.Option("--data", help="JSON fields, or @file.json, merged into the body")
]
Limit = Annotated[int, typer.Option(help="rows per page")]
Cursor = Annotated[str | None, typer.Option(help="next_cursor of the previous page")]
# Fields the API shows but a PUT body must not carry.
READ_ONLY = (
    "id",
    "version",
    "managed_by",
    "value_prefix",
    "retired",
    "builtin",
    "token_prefix",
    "issued_at",
)


Token = Annotated[
    str | None, typer.Option("--token", help="an admin token (default $GOVLEDGER_TOKEN)")
]


def guarded(command: Callable[P, R]) -> Callable[P, R]:
    """Give a command `--token`, and turn a failed call into one line and exit status 1."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        token = kwargs.pop("token", None)
        given = given_token.set(token if isinstance(token, str) else None)
        try:
            return command(*args, **kwargs)
        except CliError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None
        finally:
            given_token.reset(given)

    signature = inspect.signature(command, eval_str=True)
    extra = inspect.Parameter(
        "token", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Token
    )
    run.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), extra]
    )
    run.__annotations__ = {**typing.get_type_hints(command, include_extras=True), "token": Token}
    return run


def parse_data(text: str | None) -> dict[str, Any]:
    """`--data`: a JSON object, or @path to a file holding one."""
    if not text:
        return {}
    try:
        raw = Path(text[1:]).read_text() if text.startswith("@") else text
        value = json.loads(raw)
    except (OSError, ValueError) as error:
        raise CliError(f"--data: {error}") from None
    if not isinstance(value, dict):
        raise CliError("--data: expected a JSON object")
    return value


def editable(entity: dict[str, Any]) -> dict[str, Any]:
    """An entity as shown, minus its read-only fields: a valid PUT body."""
    body = {k: v for k, v in entity.items() if k not in READ_ONLY}
    if "keys" in body:  # provider keys: without `value`, each keeps its stored one
        body["keys"] = [{k: v for k, v in key.items() if k != "stored_as"} for key in body["keys"]]
    return body


def page(
    client: Client, path: str, query: dict[str, Any], as_json: bool, columns: list[str]
) -> None:
    """Print one page of a list, and where the next one starts."""
    reply = client.call("GET", path, query=query)
    emit(reply.body if as_json else reply.body["data"], as_json, columns)
    if not as_json and reply.body.get("next_cursor"):
        typer.echo(f"(more: --cursor {reply.body['next_cursor']})", err=True)


def replace(client: Client, path: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
    """Read an entity, change its editable fields, and PUT it back at the version read."""
    current = client.call("GET", path).body
    body = change(editable(current))
    headers = {"if-match": f'"{current["version"]}"'}
    return client.call("PUT", path, body, headers=headers).body


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


def register(app: typer.Typer) -> None:
    """Add the management commands to the `govledger` command."""
    from govledger.proxy.cli import queries as cli_queries

    for name, group in (
        ("customers", customers),
        ("teams", teams),
        ("keys", keys),
        ("providers", providers),
        ("audit", cli_queries.audit),
        ("reports", cli_queries.reports),
        ("roles", roles),
        ("tokens", tokens),
    ):
        app.add_typer(group, name=name)
    app.command("usage")(cli_queries.usage)
