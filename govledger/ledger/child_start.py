"""Starting a spawned child without running the parent's main script again.

A spawned child re-runs the parent's `__main__` file (as `__mp_main__`) before it unpickles
its target. The server's `__main__` is the `govledger` console script, whose one import is
the whole CLI: so each child (commit, projections) imported the server stack (pydantic
models, guardrails, the CLI commands) that it never uses, tens of MiB each. The target
names its own module, which the child imports by itself; the main script is not needed.
"""

from __future__ import annotations

import sys
import threading
import types
from typing import Protocol

_main_swap = threading.Lock()


class Startable(Protocol):
    """A `multiprocessing` process (of the spawn context) not started yet."""

    def start(self) -> None:
        """Start the child."""


def start_without_main(process: Startable) -> None:
    """Start `process` with an empty `__main__` in view, so the child imports only its target.

    The spawn context reads `sys.modules["__main__"]` while it writes the child's start-up
    data, inside `start()`; the real main module is put back right after.
    """
    with _main_swap:
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            process.start()
        finally:
            if main is not None:
                sys.modules["__main__"] = main
