"""Bounded waits: a monotonic deadline, and an alarm that ends a test body that overruns."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TypeVar

T = TypeVar("T")


class DeadlineExceededError(BaseException):
    """A fault case ran past its time bound (a BaseException, so no `except Exception` in
    the code under test or the harness can swallow it)."""


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll `probe` until it returns something truthy; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


@contextmanager
def alarm(seconds: float, what: str) -> Iterator[None]:
    """Raise DeadlineExceededError in the main thread if the block runs over `seconds`
    (nests: an enclosing alarm is re-armed with its remaining time)."""

    def expired(signum: int, frame: FrameType | None) -> None:
        raise DeadlineExceededError(f"{what} ran over its bound of {seconds:g}s")

    previous = signal.signal(signal.SIGALRM, expired)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    began = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:  # an enclosing alarm keeps what was left of its time
            left = outer - (time.monotonic() - began)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001))
