"""Refused sign-ins are recorded up to a rate per kind; the next one counts the skipped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from govledger.proxy.identity.failure_throttle import FailureThrottle

BAD = ("bearer", "bad_signature")


def test_a_flood_is_recorded_up_to_the_rate_then_counted() -> None:
    throttle = FailureThrottle(per_window=3, window_s=60)
    seen = [throttle.admit(BAD, 0.0) for _ in range(10)]
    assert [r for r, _ in seen] == [True] * 3 + [False] * 7
    assert throttle.admit(("oidc", "state_replayed"), 1.0) == (True, 0)  # another kind
    assert throttle.admit(BAD, 60.0) == (True, 7)  # a new window reports the 7 left out
    assert throttle.admit(BAD, 61.0) == (True, 0)


@given(st.lists(st.floats(min_value=0, max_value=600), max_size=200))
def test_no_window_records_more_than_the_rate_and_nothing_is_lost(times: list[float]) -> None:
    throttle = FailureThrottle(per_window=5, window_s=60)
    recorded, reported = 0, 0
    for now in sorted(times):
        record, skipped = throttle.admit(BAD, now)
        recorded += record
        reported += skipped
    left = throttle._skipped.get(BAD, 0)
    assert recorded + reported + left == len(times)
    assert recorded <= 5 * (int(max(times, default=0) // 60) + 1) * 2
