"""Over random histories of requests and erasures (a real SQLite key table): a value shows
in clear exactly when its subject has not been forgotten since it was sealed, and as
`erased` otherwise; every erasure is recorded once, naming only the subject's reference."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from govledger.compliance.erasure import forget
from govledger.ledger import events as ev
from govledger.ledger.credentials import SecretBox
from govledger.ledger.personal import ERASED
from govledger.ledger.subject_keys import KeyRing, SubjectKeys

NOW = datetime(2026, 7, 1, tzinfo=UTC)
SUBJECTS = ["ann@example.com", "bo@x.io", "cy.42@y.org"]  # "@" is never in base64url
steps = st.lists(
    st.tuples(st.sampled_from(["request", "forget"]), st.sampled_from(SUBJECTS)), max_size=25
)


@settings(max_examples=40, deadline=None)
@given(steps)
def test_a_value_is_shown_until_its_subject_is_forgotten(history: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        keys = SubjectKeys(f"sqlite:///{folder}/ledger.sqlite", SecretBox(b"k" * 32))
        ring = KeyRing(keys)
        recorded: list[ev.GovernanceEvent] = []
        epoch = dict.fromkeys(SUBJECTS, 0)
        sealed: list[tuple[str, str, int]] = []  # (subject, sealed value, epoch when sealed)
        try:
            for step, subject in history:
                if step == "request":
                    ring.prepare([subject])
                    value = ring.seal(subject)
                    assert value is not None and subject not in value
                    sealed.append((subject, value, epoch[subject]))
                else:
                    forget(ring, recorded.extend, subject, "ops", "api", NOW)
                    epoch[subject] += 1
            shown = KeyRing(keys).shown([value for _, value, _ in sealed])
        finally:
            keys.close()

    expected = [s if at == epoch[s] else ERASED for s, _, at in sealed]
    assert shown == expected
    assert len(recorded) == sum(1 for step, _ in history if step == "forget")
    assert all(isinstance(e, ev.SubjectErased) and "@" not in e.ref for e in recorded)
