"""`govledger init`: a first config.json (providers found in the environment, a customer, a
team and a key with a budget) plus an env file holding the key and the optional PostgreSQL
URL; interactive in a terminal, or all by flags (`--yes`) for scripts. Prints the next command.

Provider keys are written as `env.NAME` references and the virtual key as a reference to the
env file's variable, so config.json holds no secret; the env file is created mode 0600.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer

from govledger.ledger.config import ConfigError, parse_config
from govledger.ledger.credentials import generate_virtual_key

# provider type: (environment variables tried in order, the vendor's base URL)
VENDORS: dict[str, tuple[tuple[str, ...], str]] = {
    "openai": (("OPENAI_API_KEY",), "https://api.openai.com/v1"),
    "anthropic": (("ANTHROPIC_API_KEY",), "https://api.anthropic.com"),
    "gemini": (("GEMINI_API_KEY", "GOOGLE_API_KEY"), "https://generativelanguage.googleapis.com"),
}
MOCK_PORT = 9000
KEY_VARIABLE = "GOVLEDGER_FIRST_KEY"


@dataclass(frozen=True)
class Answers:
    """Everything `init` asks; `providers` maps a provider type to its key's variable
    (None: the fake upstream stands in for every vendor)."""

    providers: dict[str, str] | None
    customer: str
    team: str
    key_name: str
    budget: Decimal
    period: str
    postgres_url: str | None = None
    key_value: str = field(default_factory=generate_virtual_key, repr=False)


def found_providers(environ: Mapping[str, str]) -> dict[str, str]:
    """Provider type -> the first of its variables set (non-empty) in the environment."""
    found: dict[str, str] = {}
    for kind, (names, _) in VENDORS.items():
        name = next((n for n in names if environ.get(n)), None)
        if name:
            found[kind] = name
    return found


def identifier(name: str) -> str:
    """A config id from a display name: lower case, runs of other characters as `-`."""
    slug = re.sub(r"[^a-z0-9_.:-]+", "-", name.lower()).strip("-")
    return slug[:128] or "default"


def build_config(answers: Answers) -> dict[str, Any]:
    """The config document of the answers (validated by the caller)."""
    if answers.providers is None:
        base = f"http://127.0.0.1:{MOCK_PORT}"
        kinds: dict[str, tuple[str, str]] = {
            kind: ("mock-not-a-secret", base + ("/v1" if kind == "openai" else ""))
            for kind in VENDORS
        }
    else:
        kinds = {kind: (f"env.{var}", VENDORS[kind][1]) for kind, var in answers.providers.items()}
    providers = [
        {"name": kind, "type": kind, "base_url": url, "keys": [{"id": f"{kind}-key", "value": v}]}
        for kind, (v, url) in kinds.items()
    ]
    customer, team = identifier(answers.customer), identifier(answers.team)
    budget = {"max_limit": str(answers.budget), "reset_duration": answers.period}
    return {
        "providers": providers,
        "customers": [{"id": customer, "name": answers.customer}],
        "teams": [{"id": team, "name": answers.team, "customer_id": customer}],
        "virtual_keys": [
            {
                "id": identifier(answers.key_name),
                "name": answers.key_name,
                "value": f"env.{KEY_VARIABLE}",
                "team_id": team,
                "budgets": [budget],
                "provider_configs": [{"provider": p["name"]} for p in providers],
            }
        ],
    }


def env_file_text(answers: Answers) -> str:
    """The env file: the virtual key, and the store URL when PostgreSQL was chosen."""
    lines = ["# govledger secrets written by `govledger init`; keep this file private", ""]
    lines.append(f"{KEY_VARIABLE}={answers.key_value}")
    if answers.postgres_url:
        lines.append(f"GOVLEDGER_DATABASE_URL={answers.postgres_url}")
    return "\n".join(lines) + "\n"


def next_command(config: Path, env_file: Path, answers: Answers) -> str:
    """The command that starts the gateway on what was written."""
    mock = f" --mock-upstream {MOCK_PORT}" if answers.providers is None else ""
    source = str(env_file) if "/" in str(env_file) else f"./{env_file}"  # `.` searches PATH
    return f"set -a && . {source} && set +a && govledger serve --config {config}{mock}"


def _ask_decimal(text: str, default: Decimal) -> Decimal:
    """Prompt until the answer is a non-negative decimal number."""
    while True:
        raw = typer.prompt(text, default=str(default))
        try:
            value = Decimal(raw)
        except InvalidOperation:
            typer.echo(f"{raw!r} is not a number")
            continue
        if value.is_finite() and value >= 0:
            return value
        typer.echo("the budget must be zero or more")


def init(
    output: Annotated[Path, typer.Option("--output", "-o", help="config file to write")] = Path(
        "config.json"
    ),
    env_file: Annotated[
        Path, typer.Option("--env-file", help="file for the key and the store URL")
    ] = Path("govledger.env"),
    customer: Annotated[str | None, typer.Option(help="the first customer's name")] = None,
    team: Annotated[str | None, typer.Option(help="the first team's name")] = None,
    key_name: Annotated[str | None, typer.Option("--key-name", help="the key's name")] = None,
    budget: Annotated[str | None, typer.Option(help="the key's budget in USD")] = None,
    period: Annotated[str, typer.Option(help="the budget's reset duration")] = "1M",
    postgres_url: Annotated[
        str | None, typer.Option("--postgres-url", help="postgresql://… (default: SQLite)")
    ] = None,
    mock: Annotated[
        bool, typer.Option("--mock", help="route to the built-in fake upstream, not vendors")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="ask nothing: flags or defaults")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="overwrite existing files")] = False,
    ask_anyway: Annotated[
        bool, typer.Option("--interactive", help="ask even when not in a terminal")
    ] = False,
) -> None:
    """Write a first config.json and env file, then print the command that serves them."""
    interactive = not yes and (ask_anyway or sys.stdin.isatty())
    for path in (output, env_file):
        if path.exists() and not force:
            typer.echo(f"error: {path} exists (use --force to overwrite)", err=True)
            raise typer.Exit(1)
    found = {} if mock else found_providers(os.environ)
    if interactive and not mock:
        if found:
            listed = ", ".join(f"{k} ({v})" for k, v in found.items())
            typer.echo(f"Providers found in the environment: {listed}")
            found = {k: v for k, v in found.items() if typer.confirm(f"Use {k}?", default=True)}
        else:
            typer.echo("No OPENAI_API_KEY, ANTHROPIC_API_KEY or GEMINI_API_KEY is set.")
    if not found and not mock and not (interactive and typer.confirm("Use the fake upstream?")):
        if not interactive:
            typer.echo(
                "error: no provider key in the environment (OPENAI_API_KEY, ANTHROPIC_API_KEY,"
                " GEMINI_API_KEY); set one or pass --mock",
                err=True,
            )
        raise typer.Exit(1)

    def ask(value: str | None, text: str, default: str) -> str:
        if value is not None:
            return value
        return str(typer.prompt(text, default=default)) if interactive else default

    default_budget = Decimal("10")
    try:
        amount = Decimal(budget) if budget is not None else None
    except InvalidOperation:
        typer.echo(f"error: --budget: {budget!r} is not a number", err=True)
        raise typer.Exit(1) from None
    if amount is None:
        amount = _ask_decimal("Budget of the key in USD", default_budget) if interactive else None
    if postgres_url is None and interactive:
        postgres_url = typer.prompt(
            "PostgreSQL URL (empty: SQLite)", default="", show_default=False
        )
    answers = Answers(
        providers=found or None,
        customer=ask(customer, "First customer", "My company"),
        team=ask(team, "First team", "Platform"),
        key_name=ask(key_name, "Name of the first key", "first key"),
        budget=amount if amount is not None else default_budget,
        period=period,
        postgres_url=postgres_url or None,
    )
    if answers.postgres_url and not answers.postgres_url.startswith("postgresql://"):
        typer.echo("error: --postgres-url: must start with postgresql://", err=True)
        raise typer.Exit(1)
    document = build_config(answers)
    try:
        parse_config(document)
    except ConfigError as error:
        for where, message in error.problems:
            typer.echo(f"error: {where}: {message}", err=True)
        raise typer.Exit(1) from None
    output.write_text(json.dumps(document, indent=2) + "\n")
    env_file.touch(mode=0o600, exist_ok=True)
    env_file.chmod(0o600)
    env_file.write_text(env_file_text(answers))
    store = "PostgreSQL" if answers.postgres_url else "SQLite under ./data"
    typer.echo(f"Wrote {output} and {env_file} (the key and secrets, mode 0600); store: {store}.")
    typer.echo("Next:")
    typer.echo(f"  {next_command(output, env_file, answers)}")


def register(app: typer.Typer) -> None:
    """Add `init` to the CLI."""
    app.command("init")(init)
