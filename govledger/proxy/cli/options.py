"""The options every command over HTTP shares (`--url`, `--json`, `--token`…) and `guarded`."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, ParamSpec, TypeVar

import typer

from govledger.proxy.cli.client import CliError, given_token

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
Token = Annotated[
    str | None, typer.Option("--token", help="an admin token (default $GOVLEDGER_TOKEN)")
]
Format = Annotated[str, typer.Option("--format", help="table, json, csv or jsonl")]
Since = Annotated[str | None, typer.Option("--from", help="inclusive, ISO 8601")]
Until = Annotated[str | None, typer.Option("--to", help="exclusive, ISO 8601")]


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
