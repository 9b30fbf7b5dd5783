"""How each provider type is called natively: URL, auth headers and body for one attempt.

A provider's `base_url` is what that vendor's SDK takes as its base:
`https://api.openai.com/v1`, `https://api.anthropic.com`,
`https://generativelanguage.googleapis.com`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from govledger.projections.policy import Route
from govledger.proxy.enforcement.cost import max_output_tokens
from govledger.proxy.translate import UntranslatableError
from govledger.proxy.translate.pipeline import native_api, translate_request

ANTHROPIC_VERSION = "2023-06-01"
# max_tokens sent to Anthropic for a request that set none: within every model's limit and
# below the reservation's bound (the catalog's limit, else 16k).
ANTHROPIC_DEFAULT_MAX_TOKENS = 4_096
ANTHROPIC_MAX_TOKENS_CAP = 8_192
GEMINI_VERSION = "v1beta"
OPENAI_PATHS = {
    "openai_chat": "/chat/completions",
    "openai_responses": "/responses",
    "openai_embeddings": "/embeddings",
}
_ANTHROPIC_PASSED = ("anthropic-version", "anthropic-beta")


@dataclass(frozen=True)
class Prepared:
    """One upstream request, ready to send; `api` names the wire format of its answer."""

    api: str
    url: str
    headers: dict[str, str]
    payload: bytes
    model: str


def default_max_tokens(model: str) -> int:
    """max_tokens for an Anthropic request translated from one that set no cap."""
    known = max_output_tokens("anthropic", model)
    return min(known or ANTHROPIC_DEFAULT_MAX_TOKENS, ANTHROPIC_MAX_TOKENS_CAP)


def prepare(
    surface: str,
    body: dict[str, Any],
    model: str,
    stream: bool,
    headers: Mapping[str, str],
    api_version: str | None,
    route: Route,
    secret: str,
) -> Prepared:
    """The request for one route; raises UntranslatableError for what its type cannot take."""
    sent_model = route.upstream_model(model)
    api = native_api(surface, route.provider_type)
    payload = translate_request(
        surface, route.provider_type, body, sent_model, stream, default_max_tokens(sent_model)
    )
    out = {"content-type": "application/json"}
    base = route.base_url
    if route.provider_type == "anthropic":
        url = f"{base}/v1/messages"
        out["x-api-key"] = secret
        out["anthropic-version"] = ANTHROPIC_VERSION
        if surface == "anthropic_messages":  # the client's own version and betas
            out.update({h: headers[h] for h in _ANTHROPIC_PASSED if h in headers})
    elif route.provider_type == "gemini":
        if "/" in sent_model or ".." in sent_model:  # it is a segment of the URL's path
            raise UntranslatableError(f"model name {sent_model[:80]!r} (has `/`)", "gemini")
        version = api_version if surface == "gemini" and api_version else GEMINI_VERSION
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        url = f"{base}/{version}/models/{sent_model}:{method}"
        out["x-goog-api-key"] = secret
    else:
        url = base + OPENAI_PATHS[api]
        out["authorization"] = f"Bearer {secret}"
        if stream and api == "openai_chat":  # the usage chunk is how a stream is charged
            options = payload.get("stream_options")
            payload["stream_options"] = {**(options or {}), "include_usage": True}
    return Prepared(api, url, out, orjson.dumps(payload), sent_model)
