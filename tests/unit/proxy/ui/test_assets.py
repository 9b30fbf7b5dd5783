"""The UI's static files: fingerprinted URLs, placeholders replaced, licences shipped."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from govledger.proxy.ui.assets import STATIC, Assets, fingerprint, media_type
from govledger.proxy.ui.headers import POLICY, asset_headers, page_headers
from govledger.proxy.ui.pages import render


@given(st.binary(), st.binary())
def test_a_new_content_is_a_new_fingerprint(a: bytes, b: bytes) -> None:
    assert len(fingerprint(a)) == 16
    assert (fingerprint(a) == fingerprint(b)) == (a == b)


def test_only_the_current_hash_finds_a_file(tmp_path: Path) -> None:
    (tmp_path / "app.js").write_text("one")
    assets = Assets(tmp_path)
    url = assets.url("app.js")
    digest = url.split("/")[3]
    assert url == f"/ui/static/{digest}/app.js"
    assert assets.find(digest, "app.js") is not None
    assert assets.find("0" * 16, "app.js") is None  # an old URL is not the new content
    assert assets.find(digest, "../app.js") is None


def test_the_pages_name_every_asset_by_its_fingerprint() -> None:
    assets = Assets()
    page = render(assets.by_name["index.html"].body.decode(), assets).decode()
    assert "{{" not in page
    assert assets.url("app.js") in page and assets.url("vendor/chartjs/chart.umd.min.js") in page
    assert "<script>" not in page and " style=" not in page  # nothing inline for the CSP
    docs = render(assets.by_name["docs.html"].body.decode(), assets).decode()
    assert assets.url("vendor/swagger-ui/swagger-ui-bundle.js") in docs
    assert "http" not in docs.replace("http-equiv", "")  # no CDN


def test_every_vendored_library_ships_its_licence() -> None:
    for folder in (STATIC / "vendor").iterdir():
        names = {p.name for p in folder.iterdir()}
        assert names & {"LICENSE", "LICENSE.md"}, folder
        assert "VERSION" in names, folder
    axe = Path(__file__).parents[3] / "ui" / "vendor" / "axe-core"
    assert {"LICENSE", "VERSION", "axe.min.js"} <= {p.name for p in axe.iterdir()}


def test_scripts_are_served_as_javascript_and_licences_as_text() -> None:
    assert media_type("app.js").startswith("text/javascript")
    assert media_type("app.css").startswith("text/css")
    assert media_type("vendor/chartjs/LICENSE.md").startswith("text/plain")
    assert media_type("vendor/swagger-ui/LICENSE").startswith("text/plain")


def test_the_policy_allows_nothing_inline_and_no_framing() -> None:
    assert "'unsafe-inline'" not in POLICY and "'unsafe-eval'" not in POLICY
    assert "frame-ancestors 'none'" in POLICY and "script-src 'self'" in POLICY
    assert page_headers()["x-frame-options"] == "DENY"
    assert page_headers()["cache-control"] == "no-store"
    assert "immutable" in asset_headers()["cache-control"]
