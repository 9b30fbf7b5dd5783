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

    ASCII text (the common case) is matched as bytes, whose offsets are the characters':
    the binding's conversion of byte offsets for `str` rescans the text for every match.
    """
    subject: str | bytes = text.encode("ascii") if text.isascii() else text
    for m in program.finditer(subject):
        yield m.start(), m.end()
