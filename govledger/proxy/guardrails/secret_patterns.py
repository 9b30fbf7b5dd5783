"""Secret detectors: common API key formats, private key blocks, JWTs, `sk-bf-` keys."""

from __future__ import annotations

from collections.abc import Iterator

from govledger.proxy.guardrails.findings import Finding
from govledger.proxy.guardrails.linear import compile_linear, spans

API_KEYS = compile_linear(
    r"sk-ant-[A-Za-z0-9_-]{20,}"  # Anthropic
    r"|sk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}"  # OpenAI (sk-bf- is the gateway's own)
    r"|AKIA[0-9A-Z]{16}"  # AWS access key id
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API key
    r"|gh[pousr]_[A-Za-z0-9]{36,}"  # GitHub tokens
    r"|github_pat_[A-Za-z0-9_]{22,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}"  # Slack
    r"|glpat-[A-Za-z0-9_-]{20,}"  # GitLab
    r"|[sr]k_live_[A-Za-z0-9]{16,}"  # Stripe
)
PRIVATE_KEY = compile_linear(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
    r"(?:(?s:.)*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)?"
)
JWT = compile_linear(r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}")
GATEWAY_KEY = compile_linear(r"sk-bf-[A-Za-z0-9_-]{8,}")


def _word_start(text: str, start: int) -> bool:
    before = text[start - 1] if start > 0 else " "
    return not (before.isalnum() or before in "_-")


def api_keys(text: str) -> Iterator[Finding]:
    """Keys of OpenAI, Anthropic, AWS, Google, GitHub, GitLab, Slack and Stripe."""
    for start, end in spans(API_KEYS, text):
        if text[start:end].startswith("sk-bf-") or not _word_start(text, start):
            continue
        yield Finding("secrets.api_key", "api_key", start, end)


def private_keys(text: str) -> Iterator[Finding]:
    """PEM private key blocks (the header alone counts: the body may follow later)."""
    if "-----BEGIN" not in text:
        return
    for start, end in spans(PRIVATE_KEY, text):
        yield Finding("secrets.private_key", "private_key", start, end)


def jwts(text: str) -> Iterator[Finding]:
    """JSON Web Tokens (three base64url parts, header and payload starting `eyJ`)."""
    if "eyJ" not in text:
        return
    for start, end in spans(JWT, text):
        if _word_start(text, start):
            yield Finding("secrets.jwt", "jwt", start, end)


def gateway_keys(text: str) -> Iterator[Finding]:
    """The gateway's own virtual keys (`sk-bf-`)."""
    if "sk-bf-" not in text:
        return
    for start, end in spans(GATEWAY_KEY, text):
        if _word_start(text, start):
            yield Finding("secrets.gateway_key", "gateway_key", start, end)
