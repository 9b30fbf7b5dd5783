"""`govledger apply` (config.json into the ledger) and `govledger schema` (its JSON Schema)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from govledger.ledger.config import ConfigError, ConfigFile
from govledger.ledger.store import StoreUnavailableError
from govledger.proxy.cli import environment
from govledger.proxy.cli.config_file import load_config, refuse
from govledger.proxy.cli.exits import fail


def apply(
    file: Annotated[Path, typer.Argument(help="config.json")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the plan, append nothing")
    ] = False,
    actor: Annotated[
        str | None, typer.Option(help="who is applying (default: the OS user)")
    ] = None,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="also disable the active keys the file does not declare, whoever made them",
        ),
    ] = False,
) -> None:
    """Append the difference between FILE and the ledger (nothing if they match).

    The file manages what it declares: entities created through the API, CLI or UI are
    left alone (the plan lists them) unless --prune disables the keys among them.
    """
    from govledger.ledger.credentials import SecretBox
    from govledger.ledger.governance import ConcurrentChangeError, GovernanceLedger
    from govledger.ledger.plan import describe
    from govledger.ledger.store import Store

    config = load_config(file)
    settings = environment.settings()
    try:
        store = Store(settings.database_url)
    except StoreUnavailableError as error:
        fail(str(error))
    try:
        ledger = GovernanceLedger(
            store, SecretBox.from_environment_or_file(settings.secret_key_file)
        )
        plan, appended = ledger.apply(
            config, actor or environment.user(), "cli", dry_run=dry_run, prune=prune
        )
    except ConfigError as error:  # a value only planning can check, e.g. an unset env.NAME
        refuse(file, error)
    except ConcurrentChangeError as error:
        fail(str(error))
    finally:
        store.close()
    for line in describe(plan):
        typer.echo(line)
    for key_id, value in plan.new_key_values.items():
        if not dry_run:
            typer.echo(f"new virtual key {key_id}: {value}  (shown once; store it now)")
    typer.echo(("dry run: " if dry_run else "") + f"{appended} event(s) appended")


def schema() -> None:
    """Print the JSON Schema of config.json."""
    typer.echo(json.dumps(ConfigFile.model_json_schema(by_alias=True), indent=2))
