"""A child process that keeps the materialized views current, off the server's GIL."""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import os
from collections.abc import Sequence
from multiprocessing.connection import Connection

from govledger.ledger.child_start import start_without_main

log = logging.getLogger("govledger.projections")


def _run(url: str, stop: Connection, consumers: Sequence[str] = ()) -> None:  # pragma: no cover
    """The child: run every tail until the server closes its end of `stop` (or dies)."""
    from govledger.ledger.heap import freeze_after_start
    from govledger.ledger.store import Store
    from govledger.projections.audit_view import AuditView
    from govledger.projections.runner import Tail
    from govledger.projections.usage_view import UsageView

    store = Store(url, create_tables=False, pool_size=1, max_overflow=0)
    tails = [
        Tail(store, url, "governance", [AuditView()]),
        Tail(store, url, "usage", [UsageView()]),
    ]
    for topic in consumers:  # "module:function" giving more tails (the exporters' consumers)
        module, _, name = topic.partition(":")
        tails += getattr(importlib.import_module(module), name)(store, url)
    # Views are not on the request path: under load the server comes first.
    os.nice(5)
    freeze_after_start()
    for tail in tails:
        tail.start()
    with contextlib.suppress(EOFError, OSError):
        stop.recv()  # returns or raises when the server closes the pipe, or dies
    for tail in tails:
        tail.stop()
    store.close()


class ProjectionProcess:
    """Runs the view tails (audit, usage) in a spawned process until stopped.

    `consumers` name functions (`module:function`, called with the store and URL) that give
    more tails to run there; the caller injects them, so this layer imports no exporter.
    """

    def __init__(self, url: str, consumers: Sequence[str] = ()) -> None:
        self.url = url
        context = multiprocessing.get_context("spawn")
        self._stop, child_end = context.Pipe()
        self._child_end = child_end
        self._process = context.Process(
            target=_run,
            args=(url, child_end, tuple(consumers)),
            name="govledger-projections",
            daemon=True,
        )

    def start(self) -> None:
        """Start the child."""
        start_without_main(self._process)
        self._child_end.close()

    def stop(self) -> None:
        """Let the child finish its batch, then wait for it."""
        self._stop.close()
        self._process.join(timeout=15)
        if self._process.is_alive():
            self._process.terminate()
