"""Local stand-ins of the external guardrail APIs, as documented by their vendors (these are
NOT the vendors' services): OpenAI `POST /v1/moderations`, Azure AI Content Safety
`POST /contentsafety/text:analyze`, AWS Bedrock `POST /guardrail/{id}/version/{v}/apply`
with its SigV4 signature verified by botocore (AWS's own signer)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

MODERATION_KEY = "sk-moderation-standin-key"
AZURE_KEY = "azure-standin-subscription-key"
AWS_ACCESS = "AKIDSTANDINEXAMPLE"
AWS_SECRET = "standin/secret/KEY0123456789"
TRIGGER = "wreck everything"  # the stand-ins' flagged phrase
SLOW = "take your time"  # the stand-ins wait 2 s before answering this


def _body(flagged: bool) -> dict[str, Any]:
    return {
        "id": "modr-1",
        "model": "omni-moderation-latest",
        "results": [
            {
                "flagged": flagged,
                "categories": {"violence": flagged, "hate": False},
                "category_scores": {"violence": 0.91 if flagged else 0.01, "hate": 0.02},
            }
        ],
    }


async def _slow(text: str) -> None:
    if SLOW in text:
        await asyncio.sleep(2)


async def moderations(request: web.Request) -> web.Response:
    if request.headers.get("authorization") != f"Bearer {MODERATION_KEY}":
        return web.json_response({"error": {"message": "bad key"}}, status=401)
    body = await request.json()
    await _slow(body["input"])
    return web.json_response(_body(TRIGGER in body["input"]))


async def analyze(request: web.Request) -> web.Response:
    if request.headers.get("ocp-apim-subscription-key") != AZURE_KEY:
        return web.json_response({"error": {"code": "401", "message": "denied"}}, status=401)
    if request.query.get("api-version") != "2024-09-01":
        return web.json_response({"error": {"code": "InvalidApiVersion"}}, status=400)
    body = await request.json()
    await _slow(body["text"])
    severity = 4 if TRIGGER in body["text"] else 0
    return web.json_response(
        {
            "blocklistsMatch": [],
            "categoriesAnalysis": [
                {"category": "Hate", "severity": 0},
                {"category": "SelfHarm", "severity": 0},
                {"category": "Sexual", "severity": 0},
                {"category": "Violence", "severity": severity},
            ],
        }
    )


def _signature_ok(request: web.Request, body: bytes) -> bool:
    header = request.headers.get("authorization", "")
    try:
        signed = header.split("SignedHeaders=")[1].split(",")[0].split(";")
        credential = header.split("Credential=")[1].split(",")[0]
    except IndexError:
        return False
    _, _day, region, service, _ = credential.split("/")
    url = f"http://{request.headers['host']}{request.path_qs}"
    headers = {name: request.headers[name] for name in signed if name != "host"}
    aws = AWSRequest(method="POST", url=url, data=body, headers=headers)
    aws.context["timestamp"] = request.headers["x-amz-date"]
    signer = SigV4Auth(Credentials(AWS_ACCESS, AWS_SECRET), service, region)
    canonical = signer.canonical_request(aws)
    expected = signer.signature(signer.string_to_sign(aws, canonical), aws)
    return header.endswith(f"Signature={expected}")


async def apply(request: web.Request) -> web.Response:
    body = await request.read()
    if not _signature_ok(request, body):
        return web.json_response(
            {"message": "The request signature we calculated does not match"}, status=403
        )
    data = await request.json()
    text = data["content"][0]["text"]["text"]
    if TRIGGER not in text:
        return web.json_response({"action": "NONE", "outputs": [], "assessments": [{}]})
    return web.json_response(
        {
            "action": "GUARDRAIL_INTERVENED",
            "outputs": [{"text": "Sorry, I cannot help with that."}],
            "assessments": [
                {
                    "contentPolicy": {
                        "filters": [{"type": "VIOLENCE", "confidence": "HIGH", "action": "BLOCKED"}]
                    }
                }
            ],
        }
    )


def standin_app() -> web.Application:
    """The three stand-ins on one aiohttp application."""
    app = web.Application()
    app.router.add_post("/v1/moderations", moderations)
    app.router.add_post("/contentsafety/text:analyze", analyze)
    app.router.add_post("/guardrail/{gid}/version/{version}/apply", apply)
    return app
