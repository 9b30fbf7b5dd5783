"""Control periods and the mapping file: quarters, months and years are half-open, tile the
calendar without gap or overlap, and every control names evidence the report computes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from govledger.compliance.controls import ChainHead, gather, mapping, period_bounds
from govledger.compliance.erasure import forgetting_event
from govledger.compliance.retention import RetentionPolicy, pruning_event
from govledger.ledger.personal import SubjectRef


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 12, 1)))
def test_each_instant_lies_in_exactly_its_quarter_month_and_year(naive: datetime) -> None:
    t = naive.replace(tzinfo=UTC)
    quarter = f"{t.year}-Q{(t.month - 1) // 3 + 1}"
    for period in (quarter, f"{t.year}-{t.month:02d}", str(t.year)):
        start, end = period_bounds(period)
        assert start <= t < end
        assert period_bounds(period)[1] == end
    start, end = period_bounds(quarter)
    nxt = end + timedelta(microseconds=1)
    following = f"{nxt.year}-Q{(nxt.month - 1) // 3 + 1}"
    assert period_bounds(following)[0] == end  # no gap, no overlap


@pytest.mark.parametrize("wrong", ["2026-Q5", "2026-13", "2026-00", "26-Q1", "2026Q3", ""])
def test_a_wrong_period_is_refused(wrong: str) -> None:
    with pytest.raises(ValueError):
        period_bounds(wrong)


def test_every_mapped_evidence_is_computed_and_no_control_claims_certification() -> None:
    start, end = period_bounds("2026-Q3")
    evidence = gather([], [], start, end, ChainHead(0, ""))
    controls = mapping()
    assert {c["framework"] for c in controls} == {"SOC 2", "ISO 27001", "HIPAA"}
    assert {"CC6.1", "CC6.2", "CC6.3", "CC7.2", "CC8.1", "A.8.15", "164.312(b)"} <= {
        c["id"] for c in controls
    }
    assert all(name in evidence for c in controls for name in c["evidence"])
    assert all(e.count == 0 for e in evidence.values())


def test_erasures_and_retention_runs_of_the_period_are_counted() -> None:
    start, end = period_bounds("2026-Q3")
    inside, before = start + timedelta(days=1), start - timedelta(days=1)
    erased = [forgetting_event(SubjectRef(f"subj-{n}"), 1, "ops", "cli", inside) for n in "ab"]
    early = forgetting_event(SubjectRef("subj-c"), 0, "ops", "cli", before)
    policy = RetentionPolicy.parse("30d", None)
    run = pruning_event(policy, {}, {"requests": 3}, "ops", "cli", inside)
    evidence = gather([early, *erased, run], [], start, end, ChainHead(0, ""))
    assert evidence["erasures"].count == 2
    assert evidence["erasures"].samples == ("subj-a by ops (1 key)", "subj-b by ops (1 key)")
    assert evidence["retention_runs"].count == 1
    assert {"A.5.34", "A.8.10"} <= {c["id"] for c in mapping()}
