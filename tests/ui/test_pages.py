"""The UI's pages over HTTP and the endpoints it added to the API (no browser needed)."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

from tests.conftest import RunningGateway
from tests.e2e.management.support import Api, eventually
from tests.e2e.openai_support import client, hi


def test_root_and_ui_lead_to_the_app_with_strict_headers(api: Api) -> None:
    opener = urllib.request.build_opener(NoRedirect())
    for path in ("/", "/ui"):
        try:
            opener.open(api.url + path, timeout=10)
            raise AssertionError("not redirected")
        except urllib.error.HTTPError as redirect:
            assert (redirect.code, redirect.headers["location"]) == (307, "/ui/")
    page = api.as_(None).get("/ui/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text  # every script is a file


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Keep the redirect visible."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def test_static_files_are_fingerprinted_and_cached_for_good(api: Api) -> None:
    page = api.as_(None).get("/ui/").text
    urls = re.findall(r'(?:src|href)="(/ui/static/[0-9a-f]{16}/[^"]+)"', page)
    assert len(urls) == 3  # the stylesheet, Chart.js, the app
    for url in urls:
        found = api.as_(None).get(url)
        assert found.status == 200
        assert found.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert found.headers["x-content-type-options"] == "nosniff"
    stale = re.sub(r"/[0-9a-f]{16}/", "/0000000000000000/", urls[0])
    assert api.as_(None).get(stale).status == 404
    assert api.as_(None).get("/ui/static/x/../../openapi.json").status == 404


def test_docs_load_swagger_from_the_gateway(api: Api) -> None:
    docs = api.as_(None).get("/docs")
    assert docs.status == 200
    assert "cdn" not in docs.text.lower() and "https://" not in docs.text
    bundle = re.search(r'src="(/ui/static/[0-9a-f]{16}/vendor/swagger-ui/[^"]+)"', docs.text)
    assert bundle and api.as_(None).get(bundle.group(1)).status == 200
    assert api.as_(None).get("/redoc").status == 404


def test_audit_verify_answers_the_chain_head(api: Api) -> None:
    verdict = api.get("/api/audit/verify")
    assert verdict.status == 200, verdict.text
    assert verdict.json["intact"] is True
    assert re.fullmatch(r"[0-9a-f]{64}", verdict.json["head"])
    assert "audit chain intact" in verdict.json["message"]
    assert api.as_(None).get("/api/audit/verify").status == 401


def test_a_request_record_holds_attempts_and_reservations(
    api: Api, gateway: RunningGateway
) -> None:
    made = api.post(
        "/api/governance/virtual-keys",
        {"id": "k-record", "name": "Record", "provider_configs": [{"provider": "mock"}]},
    )
    client(gateway, made.json["value"]).chat.completions.create(
        model="m1", messages=hi(), max_tokens=10
    )
    rows = eventually(
        lambda: (
            [
                r
                for r in api.get("/api/audit/requests?virtual_key_id=k-record").json["data"]
                if r["status"] == "ok"
            ]
            or None
        )
    )
    record = api.get(f"/api/audit/requests/{rows[0]['request_id']}")
    assert record.status == 200
    assert record.json["attempts"][0]["provider"] == "mock"
    assert "reservations" in record.json and record.json["cost"] == rows[0]["cost"], record.json
    missing = api.get("/api/audit/requests/no-such-request")
    assert (missing.status, missing.error["code"]) == (404, "not_found")
    assert api.get("/api/audit/requests/a%00b").status == 422


def test_the_audit_trail_filters_by_source(api: Api) -> None:
    api.post(
        "/api/governance/customers",
        {"id": "c-source", "name": "S"},
        headers={"x-govledger-client": "ui"},
    )
    rows = eventually(
        lambda: api.get("/api/audit/events?resource_id=c-source&source=ui").json["data"] or None
    )
    assert [r["source"] for r in rows] == ["ui"]
    assert api.get("/api/audit/events?resource_id=c-source&source=cli").json["data"] == []


def test_config_export_plan_and_apply(api: Api) -> None:
    exported = api.get("/api/config")
    assert exported.status == 200
    assert exported.headers["content-disposition"] == 'attachment; filename="config.json"'
    assert exported.headers["x-govledger-placeholders"] == "providers[0].keys[0].value"
    assert "sk-upstream-literal" not in exported.text
    file = {"customers": [{"id": "c-plan", "name": "Planned"}], **_settings(exported.json)}
    plan = api.post("/api/config/plan", file)
    assert plan.status == 200 and "create  customer c-plan" in plan.json["lines"]
    assert api.get("/api/governance/customers/c-plan").status == 404  # a plan appends nothing
    bad = api.post("/api/config/plan", {"customers": [{"id": "c", "name": ""}], "nope": 1})
    assert bad.status == 422
    assert {p["field"] for p in bad.error["problems"]} >= {"customers[0].name", "nope"}
    viewer = api.post("/api/admin-tokens", {"name": "viewer-plan", "role": "Viewer"}).json["token"]
    assert api.as_(viewer).post("/api/config/plan", file).status == 200
    refused = api.as_(viewer).post("/api/config/apply", file)
    assert (refused.status, refused.error["code"]) == (403, "permission_denied")
    applied = api.post("/api/config/apply", file)
    assert applied.status == 200 and applied.json["appended"] >= 1
    assert api.get("/api/governance/customers/c-plan").json["managed_by"] == "config"
    assert api.post("/api/config/apply", file).json["appended"] == 0  # converged


def _settings(config: dict[str, object]) -> dict[str, object]:
    keep = ("pricing_overrides", "allow_unknown_prices", "required_headers", "record_headers")
    return {k: v for k, v in config.items() if k in keep}
