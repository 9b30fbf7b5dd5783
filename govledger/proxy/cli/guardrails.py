"""`govledger guardrails list|show|create|update|delete|try`: guardrail policies on a running
gateway, and a local dry run of one policy over a text (offsets, never the matched text)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from govledger.ledger.config import GuardrailSpec
from govledger.proxy.cli.entities import entity_app
from govledger.proxy.guardrails.policy import compile_policy, evaluate

guardrails = entity_app(
    "guardrail policies",
    "guardrails",
    ["id", "name", "scope", "attach", "on_error", "enabled", "version"],
    "guardrail",
)


@guardrails.command("try")
def try_policy(
    policy: Annotated[Path, typer.Argument(help="a JSON file holding one guardrail policy")],
    text: Annotated[str, typer.Option(help="the text to check")],
    direction: Annotated[str, typer.Option(help="input or output")] = "input",
) -> None:
    """Run a policy's built-in checks on a text here (no gateway): its decisions, by offset."""
    spec = GuardrailSpec.model_validate(json.loads(policy.read_text()))
    compiled = compile_policy(spec.id, spec.model_dump(mode="json"))
    if not compiled.covers(direction):
        typer.echo(f"policy {spec.id} does not check the {direction}")
        return
    verdict = evaluate([compiled], text, time.perf_counter)
    for t in verdict.triggered:
        typer.echo(f"{t.action:6} {t.check} {t.category} [{t.start}:{t.end}]")
    if not verdict.triggered:
        typer.echo("no findings")
    elif verdict.blocked is None and verdict.text != text:
        typer.echo(f"after redaction: {verdict.text}")


def register(app: typer.Typer) -> None:
    """Add `guardrails` to the `govledger` command."""
    app.add_typer(guardrails, name="guardrails")
