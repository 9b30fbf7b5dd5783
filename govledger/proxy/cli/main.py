"""The `govledger` command: one sub-command or group per module of this package, joined here.

Local (on the store itself): `serve`, `mock-upstream` (serve.py), `apply`, `schema`
(apply.py), `rebuild`, `status` (store.py), `export` (export.py). Over HTTP, against a
running gateway: `customers`, `teams`, `providers`, `keys` (entities.py), `roles`, `tokens`
(access.py), `usage` (usage.py), `reports` (reports.py). `audit` (audit.py) is both: its
listings call the gateway, `audit verify` walks the store's hash chain.
"""

from __future__ import annotations

from importlib import metadata
from typing import Annotated

import typer

from govledger.proxy.cli import access, apply, audit, entities, export, reports, serve, store, usage
from govledger.proxy.cli.compliance import register as register_compliance
from govledger.proxy.cli.guardrails import register as register_guardrails
from govledger.proxy.cli.init import register as register_init
from govledger.proxy.cli.login import register as register_login
from govledger.proxy.cli.routes import register as register_routes
from govledger.proxy.cli.secrets import register as register_secrets

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="govledger: an LLM gateway on an event-sourced ledger.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"govledger {metadata.version('govledger')}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """govledger: an LLM gateway on an event-sourced ledger."""


app.command()(serve.serve)
app.command("mock-upstream")(serve.mock_upstream)
app.command()(apply.apply)
app.command()(apply.schema)
app.command()(store.rebuild)
app.command()(store.status)
app.command("export")(export.export)
for name, group in (
    ("customers", entities.customers),
    ("teams", entities.teams),
    ("keys", entities.keys),
    ("providers", entities.providers),
    ("audit", audit.audit),
    ("reports", reports.reports),
    ("roles", access.roles),
    ("tokens", access.tokens),
):
    app.add_typer(group, name=name)
app.command("usage")(usage.usage)
register_compliance(app, reports.reports)  # reports access|controls, retention prune
register_secrets(app)  # secrets check
register_init(app)  # init: a first config.json and env file
register_guardrails(app)  # guardrail policies
register_routes(app)  # routes: adaptive routing's health and weights
register_login(app)  # login, logout: a sign-in at the identity provider for the CLI


def main() -> None:
    """Entry point of the `govledger` command."""
    app()
