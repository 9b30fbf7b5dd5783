"""Headers every request must carry: rules compiled once per settings change, checked per
request before authentication.

A rule is `"*"` (present, any value), `"env.NAME"` (equal to that environment variable,
read when the rules are compiled) or a regular expression the whole value must match.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class HeaderRule:
    """One required header (lower-case name) and what its value must be."""

    name: str
    expected: str | None = None  # an exact value (from the environment)
    pattern: re.Pattern[str] | None = None  # a full-match regular expression
    broken: bool = False  # unset variable or bad expression: nothing can satisfy it

    def accepts(self, value: str | None) -> bool:
        """True if a header value satisfies the rule."""
        if value is None or self.broken:
            return False
        if self.expected is not None:
            return hmac.compare_digest(value.encode(), self.expected.encode())
        if self.pattern is not None:
            return self.pattern.fullmatch(value) is not None
        return True


def compile_rules(rules: Mapping[str, str], env: Mapping[str, str]) -> tuple[HeaderRule, ...]:
    """Rules from the settings' `required_headers`; env references resolved now."""
    compiled = []
    for name, rule in sorted(rules.items(), key=lambda item: item[0].lower()):
        key = name.lower()
        if rule == "*":
            compiled.append(HeaderRule(key))
        elif rule.startswith("env."):
            value = env.get(rule[4:])
            compiled.append(HeaderRule(key, expected=value, broken=value is None))
        else:
            try:
                compiled.append(HeaderRule(key, pattern=re.compile(rule)))
            except re.error:
                compiled.append(HeaderRule(key, broken=True))
    return tuple(compiled)


def missing_headers(rules: tuple[HeaderRule, ...], headers: Mapping[str, str]) -> list[str]:
    """Names of the required headers that are absent or do not satisfy their rule."""
    return [rule.name for rule in rules if not rule.accepts(headers.get(rule.name))]
