"""`govledger usage KEY`: each budget and rate limit of a virtual key, from a running gateway."""

from __future__ import annotations

import typer

from govledger.proxy.cli.client import Client, emit
from govledger.proxy.cli.options import Json, Url, guarded

LIMIT_COLUMNS = ["id", "level", "limit", "settled", "reserved", "remaining", "period_end"]


@guarded
def usage(key_id: str, url: Url = None, as_json: Json = False) -> None:
    """Each budget and rate limit that applies to KEY (a virtual key id), with its figures."""
    body = Client.from_env(url).call("GET", f"/api/governance/virtual-keys/{key_id}/usage").body
    if as_json:
        emit(body, True)
        return
    emit(body["budgets"], False, LIMIT_COLUMNS)
    if body["rate_limits"]:
        typer.echo("")
        emit(body["rate_limits"], False, LIMIT_COLUMNS)
