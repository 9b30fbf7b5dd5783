"""The built-in detectors' patterns, compiled by RE2: linear time, no backtracking.

RE2 has no look-around, so the patterns match a little wide and each detector checks the
characters around a match (and its checksum) in Python; only candidates pay that cost.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import re2


def compile_linear(pattern: str, ignore_case: bool = False) -> Any:
    """An RE2 program (raises re2.error for a pattern outside its syntax)."""
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = not ignore_case
    return re2.compile(pattern, options)


def spans(program: Any, text: str) -> Iterator[tuple[int, int]]:
    """(start, end) character offsets of each match.

    The text is matched as UTF-8 bytes: the `google-re2` binding would otherwise rescan the
    text from its start to convert the offsets of every match. ASCII offsets are the
    characters'; otherwise each offset is converted from the previous one (matches come in
    order), so the whole pass stays linear.
    """
    if text.isascii():
        for m in program.finditer(text.encode("ascii")):
            yield m.start(), m.end()
        return
    data = text.encode("utf-8", "surrogatepass")
    done_bytes = done_chars = 0

    def chars(offset: int) -> int:
        nonlocal done_bytes, done_chars
        if offset < done_bytes:  # not reached in practice: matches do not overlap
            return len(data[:offset].decode("utf-8", "surrogatepass"))
        done_chars += len(data[done_bytes:offset].decode("utf-8", "surrogatepass"))
        done_bytes = offset
        return done_chars

    for m in program.finditer(data):
        yield chars(m.start()), chars(m.end())
