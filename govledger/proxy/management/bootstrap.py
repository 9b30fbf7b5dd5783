"""The first admin token: from GOVLEDGER_ADMIN_TOKEN, or generated and printed once."""

from __future__ import annotations

import sys
from collections.abc import Callable

from govledger.ledger import commands
from govledger.ledger.commands import Author
from govledger.ledger.credentials import generate_admin_token, hash_secret
from govledger.ledger.governance import ConcurrentChangeError, GovernanceLedger

SYSTEM = Author("system", "system")


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def bootstrap_admin_token(
    governance: GovernanceLedger, configured: str | None, say: Callable[[str], None] = _say
) -> str | None:
    """Make sure an Admin token exists; returns the name of one it issued, if any.

    A configured token is issued (role Admin) unless it is already live. Without one, a
    ledger with no live token at all gets a generated token, printed once through `say`.
    """
    state = governance.load()
    if configured:
        digest = hash_secret(configured)
        if digest in state.token_by_hash:
            return None
        name = (
            "bootstrap"
            if state.get("admin_token", "bootstrap") is None
            else f"bootstrap-{digest[:8]}"
        )
        value = configured
    elif state.live("admin_token"):
        return None
    else:
        name, value = "bootstrap", generate_admin_token()
    event = commands.issue_token(state, name, "Admin", value, SYSTEM, governance.clock())
    try:
        governance.commit([event])
    except ConcurrentChangeError:  # another instance bootstrapped at the same moment
        governance.load()
        return None
    if not configured:
        say(f"govledger: first admin token (shown once, store it now): {value}")
    return name
