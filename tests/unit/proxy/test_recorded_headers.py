"""Recorded headers never include a credential, even if stored settings list one."""

from __future__ import annotations

from govledger.proxy.flow.gateway import recorded_headers

HEADERS = {"authorization": "Bearer sk-bf-secret", "x-tenant": "acme", "x-stage": "s3cret"}


def test_credential_headers_listed_by_an_old_store_are_not_recorded() -> None:
    settings = {
        "record_headers": ["authorization", "x-tenant", "x-stage"],
        "required_headers": {"x-stage": "env.STAGE"},
    }
    assert recorded_headers(settings, HEADERS) == {"x-tenant": "acme"}


def test_nothing_is_recorded_when_nothing_is_asked() -> None:
    assert recorded_headers({"record_headers": []}, HEADERS) == {}


def test_a_personal_header_is_sealed_and_withheld_without_a_key() -> None:
    settings = {"record_headers": ["x-tenant", "x-user"], "personal_headers": ["x-user"]}
    headers = {"x-tenant": "acme", "x-user": "ann"}
    assert recorded_headers(settings, headers, lambda v: f"sealed({v})") == {
        "x-tenant": "acme",
        "x-user": "sealed(ann)",
    }
    assert recorded_headers(settings, headers, lambda v: None)["x-user"] == "withheld"
    assert recorded_headers(settings, headers)["x-user"] == "withheld"
