"""The built-in checks by name: each a function from text to findings."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from govledger.proxy.guardrails import pii, secret_patterns
from govledger.proxy.guardrails.deny_lists import keyword_detector, regex_detector
from govledger.proxy.guardrails.findings import Finding
from govledger.proxy.guardrails.injection import THRESHOLD, prompt_injection

Detector = Callable[[str], Iterable[Finding]]

FIXED: dict[str, Detector] = {
    "pii.email": pii.emails,
    "pii.phone": pii.phones,
    "pii.card": pii.cards,
    "pii.iban": pii.ibans,
    "pii.ssn": pii.ssns,
    "pii.ip": pii.ip_addresses,
    "secrets.api_key": secret_patterns.api_keys,
    "secrets.private_key": secret_patterns.private_keys,
    "secrets.jwt": secret_patterns.jwts,
    "secrets.gateway_key": secret_patterns.gateway_keys,
}


def _too_large(limit: int) -> Detector:
    def detect(text: str) -> Iterator[Finding]:
        if len(text) > limit // 4 and len(text.encode()) > limit:  # 4 bytes per char at most
            yield Finding("size.max_prompt", "prompt_too_large", 0, len(text))

    return detect


def _injection(threshold: float) -> Detector:
    def detect(text: str) -> Iterator[Finding]:
        return prompt_injection(text, int(threshold))

    return detect


def detector(check: dict[str, Any]) -> Detector | None:
    """The detector of a built-in check (None for an external one)."""
    kind = check["type"]
    if kind in FIXED:
        return FIXED[kind]
    if kind == "deny.keywords":
        return keyword_detector(check.get("keywords") or [])
    if kind == "deny.regex":
        return regex_detector(check.get("patterns") or [])
    if kind == "size.max_prompt":
        return _too_large(int(check["max_bytes"]))
    if kind == "injection.heuristic":
        threshold = check.get("threshold")
        return _injection(THRESHOLD if threshold is None else threshold)
    return None
