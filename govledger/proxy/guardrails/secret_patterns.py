"""Secret detectors: common API key formats, private key blocks, JWTs, `sk-bf-` keys."""

from __future__ import annotations

import re
from collections.abc import Iterator

from govledger.proxy.guardrails.findings import Finding

API_KEYS = re.compile(
    r"(?<![\w-])(?:"
    r"sk-ant-[A-Za-z0-9_-]{20,}"  # Anthropic
    r"|sk-(?!bf-)(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}"  # OpenAI
    r"|AKIA[0-9A-Z]{16}"  # AWS access key id
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API key
    r"|gh[pousr]_[A-Za-z0-9]{36,}"  # GitHub tokens
    r"|github_pat_[A-Za-z0-9_]{22,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}"  # Slack
    r"|glpat-[A-Za-z0-9_-]{20,}"  # GitLab
    r"|(?:sk|rk)_live_[A-Za-z0-9]{16,}"  # Stripe
    r")"
)
PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
    r"(?:[\s\S]{0,8192}?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)?"
)
JWT = re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}")
GATEWAY_KEY = re.compile(r"(?<![\w-])sk-bf-[A-Za-z0-9_-]{8,}")


def api_keys(text: str) -> Iterator[Finding]:
    """Keys of OpenAI, Anthropic, AWS, Google, GitHub, GitLab, Slack and Stripe."""
    for m in API_KEYS.finditer(text):
        yield Finding("secrets.api_key", "api_key", m.start(), m.end())


def private_keys(text: str) -> Iterator[Finding]:
    """PEM private key blocks (the header alone counts: the body may follow later)."""
    if "-----BEGIN" not in text:
        return
    for m in PRIVATE_KEY.finditer(text):
        yield Finding("secrets.private_key", "private_key", m.start(), m.end())


def jwts(text: str) -> Iterator[Finding]:
    """JSON Web Tokens (three base64url parts, header and payload starting `eyJ`)."""
    if "eyJ" not in text:
        return
    for m in JWT.finditer(text):
        yield Finding("secrets.jwt", "jwt", m.start(), m.end())


def gateway_keys(text: str) -> Iterator[Finding]:
    """The gateway's own virtual keys (`sk-bf-`)."""
    if "sk-bf-" not in text:
        return
    for m in GATEWAY_KEY.finditer(text):
        yield Finding("secrets.gateway_key", "gateway_key", m.start(), m.end())
