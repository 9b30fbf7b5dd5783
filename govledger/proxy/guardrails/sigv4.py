"""AWS Signature Version 4 for one JSON POST (what Bedrock's ApplyGuardrail needs)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from urllib.parse import quote, urlsplit


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signed_headers(
    url: str,
    body: bytes,
    region: str,
    service: str,
    access_key_id: str,
    secret_access_key: str,
    now: datetime,
) -> dict[str, str]:
    """The headers of a SigV4-signed POST with a JSON body (`now` in UTC)."""
    parts = urlsplit(url)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    payload = hashlib.sha256(body).hexdigest()
    headers = {
        "content-type": "application/json",
        "host": parts.netloc,
        "x-amz-content-sha256": payload,
        "x-amz-date": stamp,
    }
    names = ";".join(sorted(headers))
    canonical_headers = "".join(f"{k}:{headers[k].strip()}\n" for k in sorted(headers))
    path = quote(quote(parts.path or "/", safe="/-_.~"), safe="/-_.~")
    canonical = "\n".join(["POST", path, parts.query, canonical_headers, names, payload])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(f"AWS4{secret_access_key}".encode(), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key_id}/{scope}, "
        f"SignedHeaders={names}, Signature={signature}"
    )
    return headers
