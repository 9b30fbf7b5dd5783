"""Reading config.json for `serve --config` and `apply`: every problem named by its JSON path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NoReturn

import typer

from govledger.ledger.config import ConfigError, ConfigFile, parse_config
from govledger.proxy.cli.exits import fail


def load_config(path: Path) -> ConfigFile:
    """Read and validate a config file, or exit with the paths of its problems."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        fail(f"{path}: no such file")
    except json.JSONDecodeError as error:
        fail(f"{path}: not valid JSON ({error})")
    try:
        return parse_config(raw)
    except ConfigError as error:
        refuse(path, error)


def refuse(path: Path, error: ConfigError) -> NoReturn:
    """Print one line per problem of a config file, naming its JSON path, and exit."""
    lines = [f"{path}: {p}: {m}" for p, m in error.problems]
    typer.echo("\n".join(f"error: {line}" for line in lines), err=True)
    raise typer.Exit(1) from None
