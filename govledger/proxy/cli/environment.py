"""What a local command reads from its environment: the gateway's settings, the OS user."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from govledger.proxy.server.settings import Settings


def settings(**overrides: Any) -> Settings:
    """The gateway's settings from GOVLEDGER_* variables (imported here: the server is heavy)."""
    from govledger.proxy.cli.exits import fail
    from govledger.proxy.server.settings import Settings, SettingsError

    try:
        return Settings.from_env(**overrides)
    except SettingsError as error:  # one line naming the variable, never a traceback
        fail(str(error))


def user() -> str:
    """The OS user, named as the actor of a change (`cli` when there is none)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"
