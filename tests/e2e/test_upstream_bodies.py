"""What the upstream sends back is labelled as what it is, and the fake upstream takes
every body the gateway forwards."""

from __future__ import annotations

from collections.abc import Callable

import anthropic
import openai
import pytest
from aiohttp import web

from tests.conftest import RunningGateway
from tests.e2e.openai_support import client, hi, make_config, provider, serve
from tests.e2e.vendor_support import anthropic_client, one_vendor, vendor

Factory = Callable[..., RunningGateway]
PAGE = b"<html><body><h1>403 Forbidden</h1>by some proxy</body></html>"


def html_upstream(status: int = 403) -> web.Application:
    """An upstream (or a proxy before it) answering an HTML page."""

    async def page(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=PAGE, status=status, content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    return app


def test_a_non_json_upstream_error_is_wrapped_in_the_openai_shape(gateway_factory: Factory) -> None:
    with serve(html_upstream()) as url:
        gateway = gateway_factory(make_config(providers=[provider("mock", base_url=url + "/v1")]))
        with client(gateway) as sdk, pytest.raises(openai.PermissionDeniedError) as caught:
            sdk.chat.completions.create(model="m1", messages=hi())
    response = caught.value.response
    assert response.headers["content-type"] == "application/json"
    assert caught.value.code == "upstream_error"
    assert "403 Forbidden" in caught.value.message and "mock answered 403" in caught.value.message


def test_a_non_json_upstream_error_is_wrapped_in_the_anthropic_shape(
    gateway_factory: Factory,
) -> None:
    with serve(html_upstream(400)) as url:
        config = one_vendor("anthropic", "sk-bf-e2e-anthropic-key-01")
        config["providers"] = [vendor("anthropic", "anthropic", url)]
        gateway = gateway_factory(config)
        with anthropic_client(gateway) as sdk, pytest.raises(anthropic.BadRequestError) as caught:
            sdk.messages.create(
                model="m1", messages=[{"role": "user", "content": "hi"}], max_tokens=5
            )
    assert caught.value.response.headers["content-type"] == "application/json"
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["details"]["error_code"] == "upstream_error"


def test_the_fake_upstream_takes_a_body_up_to_the_gateways_limit(gateway_factory: Factory) -> None:
    gateway = gateway_factory(make_config())  # the gateway's default limit: 4 MiB
    prompt = "echo: ok " + "x" * (3 * 2**20)  # over aiohttp's default 1 MiB, under 4 MiB
    with client(gateway) as sdk:
        reply = sdk.chat.completions.create(
            model="m1", messages=[{"role": "user", "content": prompt}], max_tokens=5
        )
    assert reply.choices[0].message.content is not None
    assert reply.choices[0].message.content.startswith("ok")


def test_a_cookie_one_tenants_upstream_set_is_never_sent_for_another(
    gateway_factory: Factory,
) -> None:
    # a provider (or the CDN before it) setting a cookie: aiohttp's default jar kept it and
    # sent it on every later request to that host, whichever key it came for
    seen: list[str | None] = []

    async def chat(request: web.Request) -> web.Response:
        await request.read()
        seen.append(request.headers.get("Cookie"))
        reply = {
            "id": "c1",
            "object": "chat.completion",
            "created": 1,
            "model": "m1",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "hi"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        response = web.json_response(reply)
        response.set_cookie("__cf_bm", "tenant-a-session", path="/")
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    with serve(app) as url:
        by_name = url.replace("127.0.0.1", "localhost")  # the default jar skips IP hosts
        gateway = gateway_factory(
            make_config(providers=[provider("mock", base_url=by_name + "/v1")])
        )
        with client(gateway) as sdk:
            for _ in range(3):
                assert sdk.chat.completions.create(model="m1", messages=hi()).choices
    assert seen == [None, None, None]
