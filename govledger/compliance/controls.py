"""Control evidence of a period: the documented mapping (`controls.json`) of SOC 2, ISO
27001 and HIPAA controls to evidence the ledger holds (counts, samples, exceptions), as a
pure function of the governance events, the refused requests and the audit chain's head.

Evidence, not a certification: the report says so in every format.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from govledger.compliance.access_review import changes_between, review_at
from govledger.ledger import events as ev

Row = dict[str, Any]
SAMPLES = 5
DISCLAIMER = (
    "Evidence from the govledger ledger for an auditor's review; it is not a certification "
    "and claims no compliance with any framework."
)
COLUMNS = ["framework", "control", "title", "evidence", "count", "exceptions", "samples", "note"]


def mapping() -> list[Row]:
    """The controls of the mapping file, in its order."""
    text = resources.files("govledger.compliance").joinpath("controls.json").read_text()
    controls: list[Row] = json.loads(text)["controls"]
    return controls


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC of `2026-Q3`, `2026-07` or `2026`; ValueError otherwise."""
    found = re.fullmatch(r"(\d{4})(?:-Q([1-4])|-(\d{2}))?", period)
    if found is None:
        raise ValueError("a period is YYYY-Qn, YYYY-MM or YYYY, e.g. 2026-Q3")
    year, quarter, month = int(found[1]), found[2], found[3]
    if quarter:
        first, months = 3 * (int(quarter) - 1) + 1, 3
    elif month:
        first, months = int(month), 1
        if not 1 <= first <= 12:
            raise ValueError(f"no month {month} in {period}")
    else:
        first, months = 1, 12
    start = datetime(year, first, 1, tzinfo=UTC)
    index = year * 12 + first - 1 + months
    return start, datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ChainHead:
    """The audit chain's last link: its log position and digest ("" when none yet)."""

    position: int
    digest: str


@dataclass(frozen=True)
class Evidence:
    """One evidence query's answer: a count, sample ids, exceptions found, a note."""

    count: int
    samples: tuple[str, ...] = ()
    exceptions: int = 0
    note: str = ""


def _sample(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(items[:SAMPLES])


def gather(
    events: Sequence[ev.LedgerEvent],
    refused: Sequence[tuple[str, str]],
    start: datetime,
    end: datetime,
    head: ChainHead,
) -> dict[str, Evidence]:
    """Every evidence query over the period [start, end): governance events in log order,
    refused requests as (code, request id) admitted in the period, the chain's head."""
    inside = [e for e in events if start <= e.timestamp < end]
    changes = changes_between(events, start, end)
    review = review_at(events, end - timedelta(microseconds=1))

    def by(kind: str) -> list[Row]:
        return [c for c in changes if c["change"] == kind]

    subjects = review.subjects
    keys = [s for s in subjects if s["subject_type"] == "virtual_key"]
    tokens = [s for s in subjects if s["subject_type"] == "admin_token"]
    no_expiry = [k["subject_id"] for k in keys if not k["expires_at"]]
    admins = [t["subject_id"] for t in tokens if t["role"] == "Admin"]
    denials = [e for e in inside if isinstance(e, ev.AccessDenied)]
    alerts = [e for e in inside if isinstance(e, ev.AlertDeliveryAttempted)]
    fired = sorted({a.alert_id for a in alerts if a.detail.get("action", "trigger") == "trigger"})
    resolved = sorted({a.alert_id for a in alerts if a.detail.get("action") == "resolve"})
    delivered = {a.alert_id for a in alerts if a.outcome == "delivered"}
    undelivered = sorted({a.alert_id for a in alerts} - delivered)
    entity = [e for e in inside if isinstance(e, ev.EntityEvent)]
    erasures = [e for e in inside if isinstance(e, ev.SubjectErased)]
    runs = [e for e in inside if isinstance(e, ev.RetentionPruned)]
    sources = Counter(e.source for e in entity)
    codes = Counter(code for code, _ in refused)

    def changed(rows: list[Row]) -> Evidence:
        return Evidence(
            len(rows), _sample([f"{r['subject_type']}:{r['subject_id']}" for r in rows])
        )

    return {
        "subjects_at_end": Evidence(
            len(subjects),
            note=", ".join(
                f"{kind} {sum(1 for s in subjects if s['subject_type'] == kind)}"
                for kind in ("admin_token", "virtual_key", "team", "role")
            ),
        ),
        "management_denials": Evidence(
            len(denials),
            _sample([f"{d.actor} {d.method} {d.path} ({d.permission})" for d in denials]),
            len(denials),
        ),
        "refused_requests": Evidence(
            len(refused),
            _sample([f"{code}: {n}" for code, n in sorted(codes.items())]),
            len(refused),
        ),
        "keys_without_expiry": Evidence(len(no_expiry), _sample(no_expiry), len(no_expiry)),
        "admins_without_sso": Evidence(
            0, note="not applicable: admin tokens are bearer tokens; SSO is not built"
        ),
        "grants": changed(by("grant")),
        "revocations": changed(by("revocation")),
        "role_changes": changed(by("role_change")),
        "reassignments": changed(by("reassignment")),
        "key_rotations": changed(by("rotation")),
        "admin_role_tokens": Evidence(
            len(admins), _sample(admins), note="tokens holding the built-in Admin role"
        ),
        "alerts_fired": Evidence(len(fired), _sample(fired)),
        "alerts_resolved": Evidence(len(resolved), _sample(resolved)),
        "alert_delivery_failures": Evidence(
            len(undelivered), _sample(undelivered), len(undelivered)
        ),
        "governance_changes": Evidence(
            len(entity),
            note=", ".join(f"{source} {n}" for source, n in sorted(sources.items())),
        ),
        "identities": Evidence(
            len(review.identities),
            _sample([f"{r['subject_id']} ({r['idp']}, {r['status']})" for r in review.identities]),
            note="users at the period's end, by identity provider (scim: SCIM identities)",
        ),
        "erasures": Evidence(
            len(erasures),
            _sample([f"{e.ref} by {e.actor} ({e.keys_destroyed} key)" for e in erasures]),
            note="subjects erased by destroying their key (SubjectErased); refs, never values",
        ),
        "retention_runs": Evidence(
            len(runs),
            _sample([f"{e.timestamp.isoformat()} {e.periods} {e.pruned}" for e in runs]),
            note="pruning runs of the views (RetentionPruned)",
        ),
        "governance_events": Evidence(len(inside)),
        "audit_chain_head": Evidence(
            head.position, (head.digest,) if head.digest else (), note="position and digest"
        ),
    }


def report_rows(evidence: dict[str, Evidence]) -> list[Row]:
    """One row per control and evidence query, in the mapping's order."""
    rows = []
    for control in mapping():
        for name in control["evidence"]:
            found = evidence[name]
            rows.append(
                {
                    "framework": control["framework"],
                    "control": control["id"],
                    "title": control["title"],
                    "evidence": name,
                    "count": found.count,
                    "exceptions": found.exceptions,
                    "samples": list(found.samples),
                    "note": found.note,
                }
            )
    return rows
