"""`govledger secrets check`: resolve every secret reference and say which succeed (masked)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

from govledger.ledger.config import ConfigFile
from govledger.ledger.secrets.cache import fingerprint, masked
from govledger.ledger.secrets.managers import Managers
from govledger.ledger.secrets.references import is_reference
from govledger.ledger.secrets.resolver import SecretUnavailableError

secrets = typer.Typer(no_args_is_help=True, help="Secret references: check they resolve.")


def config_references(config: ConfigFile) -> dict[str, list[str]]:
    """Each reference a config file's providers hold: reference -> where."""
    found: dict[str, list[str]] = {}
    for index, provider in enumerate(config.providers):
        for key_index, key in enumerate(provider.keys):
            if is_reference(key.value):
                found.setdefault(key.value, []).append(f"providers[{index}].keys[{key_index}]")
    return found


def ledger_references(database_url: str) -> dict[str, list[str]]:
    """Each reference the ledger's providers hold (StoreUnavailableError if it cannot open)."""
    from govledger.ledger import events as ev
    from govledger.ledger.entities import GovernanceState
    from govledger.ledger.secrets.inventory import provider_references
    from govledger.ledger.store import open_existing

    store = open_existing(database_url)
    try:
        state = GovernanceState()
        for _, event in store.iterate("governance"):
            if isinstance(event, ev.EntityEvent):
                state.apply(event)
    finally:
        store.close()
    return provider_references(state)


def check_lines(found: Mapping[str, list[str]], managers: Managers) -> tuple[list[str], int]:
    """One line per reference (`ok` with the value masked and its fingerprint, or `FAIL`
    with the reason), and how many failed."""
    lines, failed = [], 0
    for reference in sorted(found):
        where = ", ".join(found[reference])
        try:
            value = managers.resolve(reference)
        except SecretUnavailableError as error:
            failed += 1
            lines.append(f"FAIL  {reference}  {error}  [{where}]")
            continue
        lines.append(f"ok    {reference}  {masked(value)}  {fingerprint(value)}  [{where}]")
    return lines, failed


def first_unresolved(database_url: str, config: ConfigFile | None) -> str | None:
    """At start: the first provider key reference (ledger or file) without a value, as one
    line naming it and the reason; None if every one resolves."""
    try:
        found = ledger_references(database_url)
    except Exception:  # a store not made yet holds no references
        found = {}
    if config is not None:
        for reference, places in config_references(config).items():
            found.setdefault(reference, []).extend(places)
    managers = Managers()
    for reference in sorted(found):
        try:
            managers.resolve(reference)
        except SecretUnavailableError as error:
            return f"secret {reference} ({', '.join(found[reference])}): {error}"
    return None


def check(
    config: Annotated[
        Path | None, typer.Option("--config", help="also the references of this config file")
    ] = None,
    ledger: Annotated[
        bool, typer.Option("--ledger/--no-ledger", help="the references stored in the ledger")
    ] = True,
) -> None:
    """Resolve every reference (provider keys in the ledger and in --config, secret settings
    such as GOVLEDGER_ALERT_WEBHOOK_SECRET) and print which succeed; exit 1 if any fails."""
    from govledger.ledger.secrets.inventory import setting_references
    from govledger.ledger.store import StoreUnavailableError
    from govledger.proxy.cli.config_file import load_config
    from govledger.proxy.cli.environment import settings as _settings

    found: dict[str, list[str]] = {}

    def add(more: Mapping[str, list[str]]) -> None:
        for reference, places in more.items():
            found.setdefault(reference, []).extend(places)

    if config is not None:
        add(config_references(load_config(config)))
    if ledger:
        try:
            add(ledger_references(_settings().database_url))
        except StoreUnavailableError as error:  # the file's and the settings' still count
            typer.echo(f"note: the ledger was not read: {error}", err=True)
    add(setting_references(os.environ))
    if not found:
        typer.echo("no secret references configured")
        return
    lines, failed = check_lines(found, Managers())
    for line in lines:
        typer.echo(line)
    typer.echo(f"{len(found) - failed} resolved, {failed} failed")
    if failed:
        raise typer.Exit(1)


secrets.command("check")(check)


def register(app: typer.Typer) -> None:
    """Add `govledger secrets check` to the `govledger` command."""
    app.add_typer(secrets, name="secrets")
