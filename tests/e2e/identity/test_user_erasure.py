"""A user's personal fields (user name, e-mail, names) are sealed in the governance events
under the user's own key; after `POST /api/subjects/forget` with the user's id, the users
API, SCIM, the access review and a fresh fold all show them as `erased`, while the user's
access, the audit chain and every other field stay as they were (both stores)."""

from __future__ import annotations

import uuid
from pathlib import Path

from govledger.exporters.audit_chain import verify
from govledger.ledger import events as ev
from govledger.ledger.credentials import SecretBox
from govledger.ledger.governance import GovernanceLedger
from govledger.ledger.personal import ERASED, is_sealed
from govledger.ledger.subject_keys import KeyRing, SubjectKeys
from govledger.ledger.users import PERSONAL_FIELDS
from govledger.projections.database import ViewDatabase
from tests.conftest import RunningGateway
from tests.e2e.identity import scim_bodies as bodies
from tests.e2e.identity.test_scim import scim
from tests.e2e.management.support import Api, poll
from tests.e2e.management.test_erasure import exported, stored_text


def test_a_forgotten_user_is_erased_in_every_view_and_the_chain_verifies(
    gateway: RunningGateway, api: Api
) -> None:
    role = api.post(
        "/api/roles",
        {"name": "scim-erase", "permissions": ["teams:view", "teams:create", "teams:update"]},
    )
    assert role.status == 201, role.text
    token = api.post("/api/admin-tokens", {"name": "scim-erase", "role": "scim-erase"}).json[
        "token"
    ]
    email = f"erin.{uuid.uuid4().hex[:6]}@example.com"
    made = scim(gateway, token, "POST", "/Users", bodies.okta_create(email, "00erin"))
    assert made.status_code == 201, made.text
    user_id = made.json()["id"]
    url = gateway.runtime.settings.database_url
    folder = Path(url[len("sqlite:///") :]).parent if url.startswith("sqlite") else Path()
    store = gateway.runtime.store
    created = [
        e
        for _, e in store.iterate("governance")
        if isinstance(e, ev.UserCreated) and e.entity_id == user_id
    ]
    shown = api.get(f"/api/users/{user_id}").json
    review = api.get("/api/reports/access").json["data"]

    assert [is_sealed(e.data["personal"]) for e in created] == [True]
    assert shown["personal"]["email"] == email
    assert [r["name"] for r in review if r["subject_id"] == user_id] == [email]
    assert email.encode() not in stored_text(url, folder)  # sealed from the start
    assert email not in exported(gateway)

    forgot = api.post("/api/subjects/forget", {"subject": user_id})
    assert forgot.status == 200 and forgot.json["keys_destroyed"] == 1, forgot.text
    erased = dict.fromkeys(PERSONAL_FIELDS, ERASED)
    after = api.get(f"/api/users/{user_id}").json
    review = api.get("/api/reports/access").json["data"]
    found = scim(gateway, token, "GET", f"/Users/{user_id}")
    [row] = [r for r in review if r["subject_id"] == user_id]

    assert after["personal"] == erased
    assert {k: v for k, v in after.items() if k not in ("personal", "version")} == {
        k: v for k, v in shown.items() if k not in ("personal", "version")
    }
    assert row["name"] == ERASED and row["status"] == "active"
    assert found.status_code == 200 and email not in found.text
    box = SecretBox.from_environment_or_file(gateway.runtime.settings.secret_key_file)
    keys = SubjectKeys(url, box)
    db = ViewDatabase(url)
    try:
        fresh = GovernanceLedger(store, box, ring=KeyRing(keys), personal_fields=PERSONAL_FIELDS)
        assert fresh.load().get("user", user_id)["personal"] == erased  # type: ignore[index]
        head = store.max_position("governance")
        verdict = poll(lambda: verify(store, db, extend=False), lambda v: v.checked >= head)
        assert verdict.intact, verdict.describe()
    finally:
        keys.close()
        db.close()
    assert email.encode() not in stored_text(url, folder) and email not in exported(gateway)
