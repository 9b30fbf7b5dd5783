"""The garbage collector of a long-running process: start-up objects frozen, rarer passes."""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Iterator
from contextlib import contextmanager

# Container allocations (net of frees) before a young pass; the default is 700. A request
# allocates a few hundred, almost all freed by reference counting, so the default ran a pass
# every couple of requests.
YOUNG_THRESHOLD = 10_000
# Young passes per middle pass, middle passes per full pass (the defaults: 10 and 10).
OLDER_THRESHOLDS = (10, 10)
_DEFAULT_THRESHOLDS = gc.get_threshold()
# A bulk fold (`rebuild`) keeps a whole batch of decoded events alive until it commits: tens
# of thousands of containers that every young and middle pass scanned again, for no garbage.
BULK_THRESHOLDS = (100_000, 50, 100)


def freeze_after_start() -> None:
    """Collect once, then keep every object alive now out of all later passes.

    What start-up built (modules, the governance state, compiled policies, the framework)
    is never garbage and was scanned again at every full pass: a pause of up to ~0.1 s on
    a large heap, taken by whichever request was running. Frozen, a full pass scans only
    what was allocated since.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
    release_free_heap()


def release_free_heap() -> None:
    """Hand the C heap's free pages back to the system (glibc's `malloc_trim`).

    Start-up frees much of what it built (the parsed config, the plan, the encoded events),
    but glibc keeps freed pages resident until asked. Without glibc this does nothing.
    """
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim(0)


def thaw() -> None:
    """Undo `freeze_after_start` when a server stops (several run in one test process)."""
    gc.unfreeze()
    gc.set_threshold(*_DEFAULT_THRESHOLDS)


@contextmanager
def bulk_passes() -> Iterator[None]:
    """Rarer collector passes while a bulk fold runs; the thresholds before it afterwards."""
    before = gc.get_threshold()
    gc.set_threshold(*BULK_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
