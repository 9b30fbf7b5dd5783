"""Keyword and regular-expression deny lists, compiled by RE2 so no pattern can backtrack.

RE2 matches in time linear in the text: a pattern such as `(a+)+b`, catastrophic for a
backtracking engine, is harmless here. What RE2 cannot run (back-references, look-around)
is refused when the policy is written, naming the pattern.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import re2

from govledger.proxy.guardrails.findings import Finding
from govledger.proxy.guardrails.linear import spans

MAX_PATTERN_CHARS = 1000
MAX_PATTERNS = 200
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_OPTIONS.max_mem = 8 << 20  # a pattern whose automaton needs more is refused


class PatternError(ValueError):
    """A deny-list pattern RE2 cannot compile, or one too large."""


def compile_pattern(pattern: str, ignore_case: bool = True) -> Any:
    """The RE2 program of one pattern; PatternError says why it cannot be one."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(f"longer than {MAX_PATTERN_CHARS} characters")
    options = re2.Options()
    options.log_errors = False
    options.max_mem = _OPTIONS.max_mem
    options.case_sensitive = not ignore_case
    try:
        return re2.compile(pattern, options)
    except re2.error as error:
        detail = error.args[0].decode() if error.args and isinstance(error.args[0], bytes) else ""
        raise PatternError(f"not in the RE2 syntax ({detail or error})") from None


def check_patterns(patterns: Sequence[str]) -> list[str]:
    """Return the patterns if each compiles; PatternError names the first that does not."""
    if len(patterns) > MAX_PATTERNS:
        raise PatternError(f"at most {MAX_PATTERNS} patterns")
    for index, pattern in enumerate(patterns):
        try:
            compile_pattern(pattern)
        except PatternError as error:
            raise PatternError(f"pattern {index}: {error}") from None
    return list(patterns)


def keyword_detector(keywords: Sequence[str]) -> Callable[[str], Iterator[Finding]]:
    """Whole-word, case-insensitive matches of any keyword (one RE2 alternation)."""
    words = sorted({k.strip() for k in keywords if k.strip()}, key=len, reverse=True)
    program = compile_pattern(r"\b(?:" + "|".join(re2.escape(w) for w in words) + r")\b")

    def detect(text: str) -> Iterator[Finding]:
        if not words:
            return
        for start, end in spans(program, text):
            yield Finding("deny.keywords", "denied_keyword", start, end)

    return detect


def regex_detector(patterns: Sequence[str]) -> Callable[[str], Iterator[Finding]]:
    """Matches of any pattern (case-insensitive), each compiled by RE2."""
    programs = [compile_pattern(p) for p in patterns]

    def detect(text: str) -> Iterator[Finding]:
        for program in programs:
            for start, end in spans(program, text):
                if end > start:
                    yield Finding("deny.regex", "denied_pattern", start, end)

    return detect
