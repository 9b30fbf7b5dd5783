"""The security headers of the UI's pages: a strict CSP (no inline script), no framing."""

from __future__ import annotations

POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)


def page_headers() -> dict[str, str]:
    """Headers of an HTML page: never cached, never framed, scripts only from the gateway."""
    return {
        "content-security-policy": POLICY,
        "x-frame-options": "DENY",
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cache-control": "no-store",
    }


def asset_headers() -> dict[str, str]:
    """Headers of a fingerprinted static file: cached for a year, never sniffed."""
    return {
        "cache-control": "public, max-age=31536000, immutable",
        "x-content-type-options": "nosniff",
        "content-security-policy": POLICY,
    }
