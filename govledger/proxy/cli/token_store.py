"""Where `govledger login` keeps its token, and reading it back for a gateway."""

from __future__ import annotations

import json
import os
from pathlib import Path


def token_file() -> Path:
    """Where the CLI keeps its sign-in: GOVLEDGER_TOKEN_FILE, else ~/.config/govledger."""
    named = os.environ.get("GOVLEDGER_TOKEN_FILE")
    return Path(named) if named else Path.home() / ".config" / "govledger" / "token.json"


def stored_token(url: str) -> str | None:
    """The kept ID token for the gateway at `url`, if there is one."""
    try:
        kept = json.loads(token_file().read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(kept, dict) or kept.get("url") != url:
        return None
    token = kept.get("id_token")
    return token if isinstance(token, str) else None


def keep(url: str, provider: str, token: str) -> Path:
    """Keep the token for the gateway at `url` (mode 0600); returns the file."""
    path = token_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump({"url": url, "provider": provider, "id_token": token}, file)
    return path
