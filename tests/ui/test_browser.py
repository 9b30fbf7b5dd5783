"""The web UI end to end in a real Chromium against the real gateway (issue 12's scenarios).

One browser per module; every wait is an explicit wait on an element (the overview refreshes
itself every 5 s, so a figure that moves is seen without a reload).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.e2e.identity.conftest import idp, sso_config
from tests.e2e.identity.idp import IdentityProvider
from tests.e2e.management.conftest import gateway_on
from tests.e2e.management.support import ADMIN, UPSTREAM_SECRET, Api
from tests.e2e.openai_support import client, hi
from tests.ui.browser import Browser

__all__ = ["idp"]  # the identity tests' provider, a fixture of this module too
SHOTS = os.environ.get("GOVLEDGER_UI_SCREENSHOTS")  # a folder: `make screenshots` sets docs/ui


def form_field(browser: Browser, path: str, value: str) -> None:
    """Type into the entity form's input of a JSON path."""
    browser.fill(f'#entity-form [data-path="{path}"]', value)


def choose(browser: Browser, path: str, value: str) -> None:
    """Pick an option of the entity form's select of a JSON path."""
    from selenium.webdriver.support.ui import Select

    Select(browser.find(f'#entity-form [data-path="{path}"]')).select_by_value(value)


def create(browser: Browser, page: str, heading: str, fields: dict[str, str]) -> None:
    """Open a list page, fill the New form (rows added as their paths need) and submit."""
    browser.go(page, heading)
    browser.find("#new-entity").click()
    for path, value in fields.items():
        if path.startswith("budgets[0]") and not browser.all('[data-path="budgets[0].max_limit"]'):
            browser.button("Add budget", "#entity-form").click()
        if path.startswith("provider_configs[0]") and not browser.all(
            '[data-path="provider_configs[0].provider"]'
        ):
            browser.button("Add provider config", "#entity-form").click()
        if path.endswith(".mode"):
            choose(browser, path, value)
        else:
            form_field(browser, path, value)
    browser.button("Create", "#entity-form").click()


def fetch(browser: Browser, method: str, path: str, token: str | None, **headers: str) -> Any:
    """A fetch from the page's origin; returns {status, body}."""
    return browser.driver.execute_async_script(
        "const [method, path, token, headers, done] = arguments;"
        "if (token) headers.authorization = 'Bearer ' + token;"
        "const body = method === 'GET' ? undefined : JSON.stringify({id: 'x', name: 'x'});"
        "fetch(path, {method, headers, body})"
        ".then(async r => done({status: r.status, body: await r.text()}));",
        method,
        path,
        token,
        headers,
    )


def test_login_with_a_token_shows_identity_and_role_then_logout(browser: Browser) -> None:
    browser.open("/ui/")
    browser.fill("input[name=token]", "gl-admin-not-a-real-token-000")
    browser.button("Sign in").click()
    assert "admin_token_not_recognised" in browser.text_of("main [role=alert]", bool)
    browser.login(ADMIN)
    assert browser.find("#who").text == "token:bootstrap · Admin"
    session = browser.driver.get_cookie("govledger_session")
    assert session is not None and session["httpOnly"]
    readable = browser.driver.execute_script("return document.cookie")
    assert "govledger_session" not in readable and ADMIN not in readable
    assert ADMIN not in browser.driver.page_source
    assert browser.driver.execute_script("return sessionStorage.length + localStorage.length") == 0
    browser.driver.refresh()  # the session survives a reload
    assert browser.find("#who").text == "token:bootstrap · Admin"
    browser.logout()
    browser.driver.refresh()
    browser.find("input[name=token]")  # the session ended: signed out after a reload too


@pytest.fixture
def sso_gateway(
    request: pytest.FixtureRequest, gateway: RunningGateway, idp: IdentityProvider, tmp_path: Path
) -> Iterator[RunningGateway]:
    """A gateway on the same store as this module's, configured with `sso` against the real
    test provider (the identity tests' config: gl-admins/gl-devs/gl-viewers mapped to roles)."""
    store = request.node.callspec.params["gateway"]
    yield from gateway_on(store, tmp_path, sso_config(idp))


def test_login_by_sso_shows_the_user_and_mapped_role_and_a_viewer_no_edit(
    browser: Browser, sso_gateway: RunningGateway, idp: IdentityProvider
) -> None:
    browser.url = sso_gateway.url
    sub = f"vera-{uuid.uuid4().hex[:6]}"
    idp.set_user(sub, {"email": f"{sub}@example.com", "name": "Vera", "groups": ["gl-viewers"]})
    browser.open("/ui/")
    link = browser.find("#sso a.sso-link")
    assert link.text == "Sign in with mock"
    signed_out_chrome = [e for e in browser.all("#nav, #identity") if e.is_displayed()]
    assert not signed_out_chrome  # no menu, no stale name or Log out before anyone signs in
    assert link.get_attribute("href") == f"{sso_gateway.url}/auth/login?provider=mock&next=%2Fui%2F"
    assert not browser.axe()
    assert not browser.console_problems()  # the strict CSP holds: no inline script
    if SHOTS:
        browser.screenshot(Path(SHOTS) / "login.png")
    link.click()
    browser.until(lambda driver: driver.current_url.startswith(f"{idp.issuer}/oauth2/authorize"))
    browser.fill("input[name=sub]", sub)
    browser.console_problems()  # the provider's page (its stylesheet is off a CDN) is not ours
    browser.button("Authorize").click()  # the provider's own form
    browser.until(lambda driver: driver.current_url.startswith(f"{sso_gateway.url}/ui/"))
    assert browser.text_of("#who", bool) == f"Vera (user:{sub}) · Viewer"
    session = browser.driver.get_cookie("govledger_session")
    assert session is not None and session["httpOnly"]
    assert browser.driver.get_cookie("govledger_login") is None  # the login state is spent
    browser.go("customers", "Customers")
    browser.text_of("main p.muted[aria-live]", lambda text: "shown" in text)
    assert not browser.all("#new-entity")
    assert not [b for b in browser.all("main button") if b.text in ("Edit", "Delete", "Rotate")]
    assert not browser.console_problems()  # the landing and pages after it: no CSP violation
    me = json.loads(fetch(browser, "GET", "/auth/me", None)["body"])
    assert me["session"]["method"] == "oidc"
    csrf = me["session"]["csrf_token"]
    refused = fetch(browser, "POST", "/api/governance/customers", None, **{"x-csrf-token": csrf})
    assert refused["status"] == 403  # the server refuses it anyway
    assert json.loads(refused["body"])["error"]["code"] == "permission_denied"
    browser.console_problems()  # that 403 was asked for
    browser.logout()
    browser.find("#sso a.sso-link")
    assert not [e for e in browser.all("#nav, #identity") if e.is_displayed()]


def test_a_key_with_a_budget_its_value_once_spend_moving_and_exhaustion_flagged(
    browser: Browser, gateway: RunningGateway
) -> None:
    browser.login(ADMIN)
    create(browser, "customers", "Customers", {"id": "c-ui", "name": "Customer UI"})
    browser.find('#customers-table tr[data-id="c-ui"]')
    create(browser, "teams", "Teams", {"id": "t-ui", "name": "Team UI", "customer_id": "c-ui"})
    browser.find('#teams-table tr[data-id="t-ui"]')
    create(
        browser,
        "keys",
        "Virtual keys",
        {
            "id": "k-ui",
            "name": "Key UI",
            "team_id": "t-ui",
            "provider_configs[0].provider": "mock",
            "budgets[0].max_limit": "0.00002",
            "budgets[0].reset_duration": "1d",
            "budgets[0].mode": "optimistic",
        },
    )
    value = browser.text_of("#secret-value", lambda text: text.startswith("sk-bf-"))
    browser.button("I have stored it").click()
    browser.find('#keys-table tr[data-id="k-ui"]')
    assert value not in browser.driver.page_source  # shown once, never again
    browser.driver.refresh()
    browser.find('#keys-table tr[data-id="k-ui"]')
    assert value not in browser.driver.page_source

    browser.go("overview", "Overview")
    gauge = '#gauges [data-owner="k-ui"]'
    before = browser.text_of(f"{gauge} .gauge-figures", lambda text: "settled" in text)
    sdk = client(gateway, value)
    sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=10)
    browser.text_of(f"{gauge} .gauge-figures", lambda text: text != before)  # no reload
    browser.text_of("#spend-30d", lambda text: text not in ("", "$0.00"))
    sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=10)
    with pytest.raises(openai.APIStatusError):  # optimistic: over the limit, now refused
        sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=10)
    assert browser.text_of(f"{gauge} .badge", lambda text: text == "exhausted")
    browser.text_of("#refusals", lambda text: "budget" in text)
    if SHOTS:
        browser.screenshot(Path(SHOTS) / "overview.png")

    browser.go("keys", "Virtual keys")
    browser.button("Rotate k-ui").click()
    browser.button("Rotate now", "#rotate-form").click()
    rotated = browser.text_of("#secret-value", lambda text: text.startswith("sk-bf-"))
    assert rotated != value
    with pytest.raises(openai.AuthenticationError):  # grace 0: the old value is refused
        sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=10)
    browser.button("I have stored it").click()


def test_a_viewer_is_offered_no_edit_and_the_server_refuses_anyway(
    browser: Browser, api: Api
) -> None:
    token = api.post("/api/admin-tokens", {"name": "viewer-ui", "role": "Viewer"}).json["token"]
    browser.login(token)
    assert browser.find("#who").text.endswith("· Viewer")
    browser.go("customers", "Customers")
    browser.text_of("main p.muted[aria-live]", lambda text: "shown" in text)
    assert not browser.all("#new-entity")
    assert not [b for b in browser.all("main button") if b.text in ("Edit", "Delete", "Rotate")]
    refused = fetch(browser, "POST", "/api/governance/customers", token)
    assert refused["status"] == 403
    assert json.loads(refused["body"])["error"]["code"] == "permission_denied"


def test_the_audit_view_shows_a_ui_change_with_its_diff(browser: Browser) -> None:
    browser.login(ADMIN)
    create(browser, "customers", "Customers", {"id": "c-audit", "name": "Before"})
    browser.button("Edit c-audit").click()
    form_field(browser, "name", "After")
    browser.button("Save", "#entity-form").click()
    browser.text_of('#customers-table tr[data-id="c-audit"]', lambda text: "After" in text)
    browser.go("audit", "Audit")
    browser.fill("#audit-filters input[name=resource_id]", "c-audit")
    browser.fill("#audit-filters input[name=source]", "ui")
    rows = "#audit-table tr[data-position]"
    row = browser.filtered("#audit-filters", rows, lambda text: "customer.updated" in text)
    assert " ui " in f" {row.text} "
    row.find_element("css selector", "button").click()
    changed = browser.text_of("#audit-table .diff tr.changed", lambda text: "name" in text)
    assert "Before" in changed and "After" in changed
    if SHOTS:
        browser.screenshot(Path(SHOTS) / "audit.png")


def test_a_hostile_name_renders_as_text(browser: Browser, api: Api) -> None:
    hostile = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
    assert api.post("/api/governance/customers", {"id": "c-xss", "name": hostile}).status == 201
    browser.login(ADMIN)
    browser.go("customers", "Customers")
    cell = browser.text_of('#customers-table tr[data-id="c-xss"]', lambda text: "<script>" in text)
    assert hostile in cell
    assert browser.driver.execute_script("return window.__xss === undefined")
    assert not browser.all("main img")


def test_422_problems_are_shown_beside_their_fields(browser: Browser) -> None:
    browser.login(ADMIN)
    create(
        browser,
        "customers",
        "Customers",
        {
            "id": "c-bad",
            "name": "Bad",
            "budgets[0].max_limit": "5",
            "budgets[0].reset_duration": "soon",
        },
    )
    problem = browser.find('#entity-form [data-path="budgets[0].reset_duration"]')
    browser.until(lambda driver: problem.get_attribute("aria-invalid") == "true")  # the 422
    slot = f"#{problem.get_attribute('id')}-problem"
    assert browser.text_of(slot, bool)


def test_a_post_with_the_session_cookie_but_no_csrf_token_is_refused(
    browser: Browser, api: Api
) -> None:
    """What a cross-site form could send (the cookie, a plain body) changes nothing."""
    browser.login(ADMIN)
    for headers in ({}, {"content-type": "text/plain"}, {"x-csrf-token": "forged"}):
        refused = fetch(browser, "POST", "/api/governance/customers", None, **headers)
        assert refused["status"] == 403, (headers, refused)
        assert json.loads(refused["body"])["error"]["code"] == "csrf_token_invalid"
    assert api.get("/api/governance/customers/x").status == 404  # nothing was created
    browser.logout()
    assert fetch(browser, "POST", "/api/governance/customers", None)["status"] == 401


def test_verify_request_record_config_plan_and_routing(
    browser: Browser, api: Api, gateway: RunningGateway, tmp_path: Path
) -> None:
    made = api.post(
        "/api/governance/virtual-keys",
        {"id": "k-log", "name": "Log", "provider_configs": [{"provider": "mock"}]},
    )
    client(gateway, made.json["value"]).chat.completions.create(
        model="m1", messages=hi(), max_tokens=10
    )
    browser.login(ADMIN)
    browser.go("audit", "Audit")
    browser.find("#verify").click()
    assert "audit chain intact" in browser.text_of("#verify-result", lambda text: "chain" in text)

    browser.go("requests", "Request log")
    browser.fill("#request-filters input[name=virtual_key_id]", "k-log")
    row = browser.filtered("#request-filters", "#requests-table tr[data-request]", bool)
    row.find_element("css selector", "button").click()
    record = browser.text_of("#request-detail", lambda text: "attempts" in text)
    assert "reservations" in record and "input_tokens" in record
    if SHOTS:
        browser.screenshot(Path(SHOTS) / "requests.png")

    exported = api.get("/api/config").json  # export, edit, plan, apply: the usual round
    assert exported["providers"][0]["keys"][0]["value"] == "env.MOCK_MOCK_KEY_KEY"  # no secret
    exported["providers"][0]["keys"][0]["value"] = UPSTREAM_SECRET  # the operator fills it in
    exported["customers"].append({"id": "c-file", "name": "From a file"})
    file = tmp_path / "config.json"
    file.write_text(json.dumps(exported))
    browser.go("config", "Config as code")
    browser.find("#config-file").send_keys(str(file))
    browser.find("#plan-button").click()
    assert "create" in browser.text_of("#plan-lines", lambda text: "c-file" in text)
    if SHOTS:
        browser.screenshot(Path(SHOTS) / "config.png")
    browser.find("#apply-button").click()
    browser.text_of("#applied", lambda text: "appended" in text)
    assert api.get("/api/governance/customers/c-file").json["managed_by"] == "config"

    browser.go("routing", "Routing")
    browser.text_of("#routing", lambda text: "k-log" in text)
    if SHOTS:
        browser.screenshot(Path(SHOTS) / "routing.png")


PAGES = [  # page, heading, an element that shows it has loaded
    ("overview", "Overview", "#gauges .gauge, #gauges p"),
    ("customers", "Customers", "#customers-table tbody tr"),
    ("keys", "Virtual keys", "#keys-table tbody tr"),
    ("providers", "Providers", "#providers-table tbody tr"),
    ("routing", "Routing", "#routing section"),
    ("audit", "Audit", "#audit-table tbody tr"),
    ("requests", "Request log", "#requests-table tbody tr"),
    ("config", "Config as code", "#export-button"),
]


def test_main_pages_have_no_serious_accessibility_violation_nor_console_error(
    browser: Browser, api: Api, gateway: RunningGateway
) -> None:
    api.post(
        "/api/governance/customers",
        {
            "id": "c-a11y",
            "name": "Accessible",
            "budgets": [{"max_limit": "1", "reset_duration": "1M", "calendar_aligned": True}],
        },
    )
    made = api.post(
        "/api/governance/virtual-keys",
        {
            "id": "k-a11y",
            "name": "A11y",
            "customer_id": "c-a11y",
            "provider_configs": [{"provider": "mock"}],
        },
    )
    if made.status == 201:
        client(gateway, made.json["value"]).chat.completions.create(
            model="m1", messages=hi(), max_tokens=10
        )
    browser.login(ADMIN)
    for page, heading, loaded in PAGES:
        browser.go(page, heading)
        browser.find(loaded)
        violations = browser.axe()
        assert not violations, (page, [(v["id"], v["help"]) for v in violations])
        assert not browser.console_problems(), page  # CSP violations are console errors
        if SHOTS and page in ("customers", "keys", "providers"):
            browser.screenshot(Path(SHOTS) / f"{page}.png")
    from selenium.webdriver.common.keys import Keys

    browser.driver.refresh()  # keyboard: the first Tab reaches the skip link, Enter uses it
    browser.find("#logout")
    browser.find("body").send_keys(Keys.TAB)
    assert browser.driver.execute_script("return document.activeElement.className") == "skip"
    browser.driver.switch_to.active_element.send_keys(Keys.ENTER)
    browser.until(
        lambda driver: driver.execute_script("return document.activeElement.id") == "main"
    )
    browser.driver.set_window_size(420, 860)  # a narrow window
    try:
        browser.go("customers", "Customers")
        assert browser.find("#nav").is_displayed()
        assert not browser.axe()
        if SHOTS:
            browser.screenshot(Path(SHOTS) / "narrow.png")
    finally:
        browser.driver.set_window_size(1366, 900)
    browser.logout()
    assert not browser.axe()


def test_swagger_docs_load_from_the_gateway_alone(browser: Browser) -> None:
    browser.open("/docs")
    browser.find(".swagger-ui .info .title")
    origins = browser.driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => new URL(e.name).origin)"
    )
    assert set(origins) == {browser.url}
    assert not browser.console_problems()
