"""Event loops that tests run in threads of their own."""

from __future__ import annotations

import asyncio
import gc

import pytest


def close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the tasks still pending on `loop`, let them finish, then close it.

    A server's cleanup cancels handlers it gave up waiting for, but a cancelled task only ends
    when its loop runs again: closed at once, the loop leaves them for the garbage collector,
    which logs "Task was destroyed but it is pending!" into whatever test runs then.
    """
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


def collect_earlier_garbage(caplog: pytest.LogCaptureFixture) -> None:
    """Collect what earlier tests left for the garbage collector, then forget its log lines.

    A test that asserts no error was logged should see its own records only.
    """
    gc.collect()
    caplog.clear()
