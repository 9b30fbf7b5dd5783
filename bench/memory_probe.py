"""`govledger serve` in a process that reports its own heap when sent SIGUSR1.

    PROBE_OUT=report.json [PROBE_TRACE=25] python bench/memory_probe.py serve --config ...

Run by `bench/memory_keys.py --probe`. On SIGUSR1 it writes one JSON report to PROBE_OUT:
RSS and PSS, the module count, glibc's heap (mallinfo2) and pymalloc's arenas, both again
after `malloc_trim(0)`, and with PROBE_TRACE=N (frames kept per allocation; tracemalloc
started before the first import of govledger) its top allocations by line, by file and by
the innermost govledger frame of each traceback. Tracing costs memory of its own, so the RSS
of a traced run is not comparable with an untraced one.
"""

from __future__ import annotations

import ctypes
import gc
import io
import json
import os
import signal
import sys
import tempfile
import tracemalloc
from pathlib import Path
from types import FrameType
from typing import Any


class MallInfo2(ctypes.Structure):
    """glibc's `struct mallinfo2` (every field a size_t)."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


LIBC = ctypes.CDLL("libc.so.6")
LIBC.mallinfo2.restype = MallInfo2


def rollup() -> dict[str, float]:
    """This process's smaps_rollup figures in MiB (Rss, Pss and their anonymous parts)."""
    out: dict[str, float] = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        if name in ("Rss", "Pss", "Pss_Anon", "Pss_File", "Anonymous"):
            out[name] = round(int(rest.split()[0]) / 1024, 1)
    return out


def malloc_heap() -> dict[str, float]:
    """glibc's heap in MiB: bytes from brk, from mmap, in use and free."""
    info = LIBC.mallinfo2()
    mib = 1024 * 1024
    return {
        "brk_mib": round(info.arena / mib, 1),
        "mmap_mib": round(info.hblkhd / mib, 1),
        "in_use_mib": round((info.uordblks + info.hblkhd) / mib, 1),
        "free_mib": round(info.fordblks / mib, 1),
    }


def pymalloc() -> dict[str, Any]:
    """pymalloc's arena summary lines from `sys._debugmallocstats` (written to fd 2 by C)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read().decode(errors="replace")
    wanted = (
        "# arenas allocated current",
        "# arenas highwater mark",
        "bytes in allocated blocks",
        "bytes in available blocks",
        "unused pools",
        "bytes lost to pool headers",
        "bytes lost to quantization",
        "Total",
    )
    lines = [line for line in text.splitlines() if line.startswith(wanted)]
    return {line.split("=")[0].strip(): line.split("=")[-1].strip() for line in lines}


def owner(trace: tracemalloc.Traceback) -> str:
    """The innermost govledger frame of a traceback (file:line), else its innermost frame."""
    for frame in reversed(trace):  # most recent call last in tracemalloc's order
        if "/govledger/" in frame.filename:
            return f"{frame.filename.split('/govledger/', 1)[1]}:{frame.lineno}"
    return f"{trace[-1].filename}:{trace[-1].lineno}"


def traced(top: int) -> dict[str, Any]:
    """tracemalloc's totals and top allocations, grouped three ways."""
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    by_owner: dict[str, list[int]] = {}
    for stat in snapshot.statistics("traceback"):
        entry = by_owner.setdefault(owner(stat.traceback), [0, 0])
        entry[0] += stat.size
        entry[1] += stat.count
    mib = 1024 * 1024

    def rows(stats: list[tracemalloc.Statistic]) -> list[list[Any]]:
        return [[str(s.traceback[-1]), round(s.size / mib, 2), s.count] for s in stats[:top]]

    owners = sorted(by_owner.items(), key=lambda item: -item[1][0])[:top]
    return {
        "traced_mib": round(sum(s.size for s in snapshot.statistics("filename")) / mib, 1),
        "by_line": rows(snapshot.statistics("lineno")),
        "by_file": [
            [str(s.traceback[-1].filename), round(s.size / mib, 2), s.count]
            for s in snapshot.statistics("filename")[:top]
        ],
        "by_govledger_frame": [[k, round(v[0] / mib, 2), v[1]] for k, v in owners],
    }


def report(_signum: int, _frame: FrameType | None) -> None:
    """Write the report to PROBE_OUT."""
    out: dict[str, Any] = {
        "modules": len(sys.modules),
        "frozen_objects": gc.get_freeze_count(),
        "before_trim": {**rollup(), **malloc_heap(), "pymalloc": pymalloc()},
    }
    LIBC.malloc_trim(0)
    out["after_trim"] = {**rollup(), **malloc_heap()}
    if tracemalloc.is_tracing():
        out["tracemalloc"] = traced(int(os.environ.get("PROBE_TOP", "30")))
    buffer = io.StringIO()
    json.dump(out, buffer, indent=1)
    Path(os.environ["PROBE_OUT"]).write_text(buffer.getvalue())


def main() -> None:
    """Install the handler, start tracing if asked, then run the `govledger` command."""
    frames = int(os.environ.get("PROBE_TRACE", "0"))
    if frames:
        tracemalloc.start(frames)
    signal.signal(signal.SIGUSR1, report)
    from govledger.proxy.cli.main import main as govledger

    sys.argv = ["govledger", *sys.argv[1:]]
    govledger()


if __name__ == "__main__":
    main()
