"""External checks over their documented HTTP APIs: OpenAI moderation (through a configured
provider), Azure AI Content Safety `text:analyze`, AWS Bedrock `ApplyGuardrail` (SigV4).

Each returns the categories it reports; an error (HTTP, timeout, an unreadable answer)
raises `ExternalCheckError` and the policy fails open or closed. The tests run them
against local stand-ins of those APIs, not the vendors' services.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from govledger.proxy.guardrails.sigv4 import signed_headers

AZURE_API_VERSION = "2024-09-01"
AZURE_MAX_CHARS = 10_000  # the API's limit per call: longer texts go in several calls
MODERATION_MODEL = "omni-moderation-latest"
Resolve = Callable[[str], str | None]  # env.NAME -> value


class ExternalCheckError(RuntimeError):
    """An external check could not give an answer."""


async def _post(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> Any:
    try:
        async with session.post(url, data=body, headers=headers) as response:
            raw = await response.read()
            if response.status >= 400:
                raise ExternalCheckError(f"answered {response.status}")
    except aiohttp.ClientError as error:
        raise ExternalCheckError(f"unreachable: {type(error).__name__}") from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ExternalCheckError("answered a body that is not JSON") from None


async def openai_moderation(
    session: aiohttp.ClientSession, base_url: str, api_key: str, text: str, threshold: float | None
) -> list[str]:
    """Categories flagged by POST {base_url}/moderations (or scoring at least `threshold`)."""
    body = orjson.dumps({"model": MODERATION_MODEL, "input": text})
    headers = {"authorization": f"Bearer {api_key}", "content-type": "application/json"}
    answer = await _post(session, base_url.rstrip("/") + "/moderations", body, headers)
    try:
        found: list[str] = []
        for result in answer["results"]:
            if threshold is None:
                found += [name for name, hit in result["categories"].items() if hit]
            else:
                scores = result["category_scores"]
                found += [name for name, score in scores.items() if float(score) >= threshold]
        return sorted(set(found))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ExternalCheckError("moderation answer not in the documented shape") from None


async def azure_content_safety(
    session: aiohttp.ClientSession, endpoint: str, api_key: str, text: str, threshold: float | None
) -> list[str]:
    """Categories of severity >= threshold (default 2) from `text:analyze`, per 10k chars."""
    url = f"{endpoint.rstrip('/')}/contentsafety/text:analyze?api-version={AZURE_API_VERSION}"
    headers = {"ocp-apim-subscription-key": api_key, "content-type": "application/json"}
    minimum = 2 if threshold is None else threshold
    found: set[str] = set()
    for start in range(0, max(len(text), 1), AZURE_MAX_CHARS):
        chunk = text[start : start + AZURE_MAX_CHARS]
        body = orjson.dumps({"text": chunk, "outputType": "FourSeverityLevels"})
        answer = await _post(session, url, body, headers)
        try:
            for item in answer["categoriesAnalysis"]:
                if int(item.get("severity") or 0) >= minimum:
                    found.add(str(item["category"]).lower())
            if answer.get("blocklistsMatch"):
                found.add("blocklist")
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ExternalCheckError("content safety answer not in the documented shape") from None
    return sorted(found)


def bedrock_url(region: str, guardrail_id: str, version: str, endpoint: str | None) -> str:
    """The ApplyGuardrail URL (an `endpoint` replaces the regional host, e.g. a stand-in)."""
    base = endpoint or f"https://bedrock-runtime.{region}.amazonaws.com"
    return f"{base.rstrip('/')}/guardrail/{guardrail_id}/version/{version}/apply"


async def bedrock_guardrail(
    session: aiohttp.ClientSession,
    url: str,
    region: str,
    access_key_id: str,
    secret_access_key: str,
    text: str,
    source: str,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[str]:
    """The policies that intervened, from POST .../apply signed with SigV4 (`bedrock`)."""
    body = orjson.dumps({"source": source.upper(), "content": [{"text": {"text": text}}]})
    headers = signed_headers(url, body, region, "bedrock", access_key_id, secret_access_key, now())
    answer = await _post(session, url, body, headers)
    try:
        if answer["action"] != "GUARDRAIL_INTERVENED":
            return []
        return sorted(_bedrock_categories(answer.get("assessments") or [])) or ["intervened"]
    except (KeyError, TypeError, AttributeError):
        raise ExternalCheckError("ApplyGuardrail answer not in the documented shape") from None


def _bedrock_categories(assessments: list[Any]) -> set[str]:
    found: set[str] = set()
    for item in assessments:
        for topic in (item.get("topicPolicy") or {}).get("topics") or ():
            found.add(f"topic.{topic.get('name')}")
        for flt in (item.get("contentPolicy") or {}).get("filters") or ():
            found.add(f"content.{str(flt.get('type')).lower()}")
        words = item.get("wordPolicy") or {}
        if words.get("customWords") or words.get("managedWordLists"):
            found.add("word")
        pii = item.get("sensitiveInformationPolicy") or {}
        for entity in pii.get("piiEntities") or ():
            found.add(f"pii.{str(entity.get('type')).lower()}")
        for regex in pii.get("regexes") or ():
            found.add(f"regex.{regex.get('name')}")
    return found
