"""Tests for ledger.periods: duration parsing and the period arithmetic behind budgets."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from govledger.ledger.periods import (
    Duration,
    DurationError,
    Period,
    PeriodMemo,
    Schedule,
    next_period,
    parse_duration,
    period_of,
    seconds_until_end,
)

ONE_US = timedelta(microseconds=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
UNITS = "smhdwMQY"
FIXED_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MONTHS_PER_UNIT = {"M": 1, "Q": 3, "Y": 12}


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    """Build a UTC datetime."""
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


def aligned(text: str) -> Schedule:
    """A calendar-aligned schedule for ``text`` (the anchor is irrelevant)."""
    return Schedule(parse_duration(text), calendar_aligned=True, anchor=utc(2025, 6, 17, 13, 45))


def rolling(text: str, anchor: datetime) -> Schedule:
    """A rolling schedule for ``text`` anchored at ``anchor``."""
    return Schedule(parse_duration(text), calendar_aligned=False, anchor=anchor)


durations = st.builds(Duration, st.integers(min_value=1, max_value=100), st.sampled_from(UNITS))
instants = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(2200, 12, 31, 23, 59, 59, 999999),
    timezones=st.just(UTC),
)
schedules = st.builds(Schedule, durations, st.booleans(), instants)


# --- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count", "unit"),
    [
        ("30s", 30, "s"),
        ("5m", 5, "m"),
        ("1h", 1, "h"),
        ("1d", 1, "d"),
        ("1w", 1, "w"),
        ("1M", 1, "M"),
        ("1Q", 1, "Q"),
        ("1Y", 1, "Y"),
        ("90s", 90, "s"),
        ("2w", 2, "w"),
        ("6M", 6, "M"),
    ],
)
def test_valid_durations_parse_to_count_and_unit(text: str, count: int, unit: str) -> None:
    duration = parse_duration(text)
    assert duration == Duration(count, unit)
    assert str(duration) == text


def test_lowercase_m_is_a_minute_and_uppercase_m_is_a_month() -> None:
    assert parse_duration("1m").approx_seconds == 60
    assert parse_duration("1M").approx_seconds == 30 * 86400
    assert not parse_duration("1m").is_calendar_unit
    assert parse_duration("1M").is_calendar_unit


@pytest.mark.parametrize(
    "text",
    ["5x", "0d", "-1h", "1.5h", "", "d", " 1d", "1d ", "1d\n", "+1d", "01d", "1D", "1 d", "1dd"],
)
def test_malformed_durations_raise_an_error_naming_the_value_and_the_grammar(text: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(text)
    message = str(caught.value)
    assert repr(text) in message
    assert "M month" in message
    assert isinstance(caught.value, ValueError)


def test_non_ascii_digits_are_rejected() -> None:
    with pytest.raises(DurationError):
        parse_duration("\u0661d")


@pytest.mark.parametrize(("count", "unit"), [(0, "d"), (-3, "h"), (True, "d"), (1, "x"), (1, "")])
def test_constructing_an_invalid_duration_directly_raises(count: int, unit: str) -> None:
    with pytest.raises(DurationError):
        Duration(count, unit)


@pytest.mark.parametrize(
    ("text", "calendar", "seconds"),
    [
        ("90s", False, 90),
        ("5m", False, 300),
        ("2h", False, 7200),
        ("3d", False, 259200),
        ("2w", False, 1209600),
        ("2M", True, 60 * 86400),
        ("1Q", True, 91 * 86400),
        ("1Y", True, 365 * 86400),
    ],
)
def test_calendar_flag_and_approximate_length_follow_the_unit(
    text: str, calendar: bool, seconds: int
) -> None:
    duration = parse_duration(text)
    assert duration.is_calendar_unit is calendar
    assert duration.approx_seconds == seconds


@given(durations)
def test_canonical_text_parses_back_to_the_same_duration(duration: Duration) -> None:
    assert parse_duration(str(duration)) == duration


# --- calendar-aligned examples ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "t", "start", "end"),
    [
        ("30s", utc(2026, 2, 15, 10, 0, 45), utc(2026, 2, 15, 10, 0, 30), utc(2026, 2, 15, 10, 1)),
        ("90s", utc(1970, 1, 1, 0, 2, 0), utc(1970, 1, 1, 0, 1, 30), utc(1970, 1, 1, 0, 3)),
        ("5m", utc(2026, 2, 15, 10, 7, 3), utc(2026, 2, 15, 10, 5), utc(2026, 2, 15, 10, 10)),
        ("1h", utc(2026, 2, 15, 10, 59, 59), utc(2026, 2, 15, 10), utc(2026, 2, 15, 11)),
        ("1d", utc(2026, 2, 15, 23, 59), utc(2026, 2, 15), utc(2026, 2, 16)),
        ("3d", utc(1970, 1, 5, 12), utc(1970, 1, 4), utc(1970, 1, 7)),
        ("1w", utc(2026, 2, 15, 10), utc(2026, 2, 9), utc(2026, 2, 16)),
        ("1w", utc(2026, 2, 16), utc(2026, 2, 16), utc(2026, 2, 23)),
        ("2w", utc(1970, 1, 20), utc(1970, 1, 19), utc(1970, 2, 2)),
        ("1M", utc(2026, 2, 15, 10), utc(2026, 2, 1), utc(2026, 3, 1)),
        ("1M", utc(2026, 12, 31, 23, 59, 59, 999999), utc(2026, 12, 1), utc(2027, 1, 1)),
        ("3M", utc(2026, 5, 20), utc(2026, 4, 1), utc(2026, 7, 1)),
        ("6M", utc(2026, 9, 1), utc(2026, 7, 1), utc(2027, 1, 1)),
        ("1Q", utc(2026, 11, 27), utc(2026, 10, 1), utc(2027, 1, 1)),
        ("1Q", utc(2026, 1, 1), utc(2026, 1, 1), utc(2026, 4, 1)),
        ("1Y", utc(2026, 7, 4), utc(2026, 1, 1), utc(2027, 1, 1)),
        ("5Y", utc(2026, 7, 4), utc(2025, 1, 1), utc(2030, 1, 1)),
    ],
)
def test_calendar_aligned_periods_start_on_utc_boundaries(
    text: str, t: datetime, start: datetime, end: datetime
) -> None:
    assert period_of(aligned(text), t) == Period(start, end)


def test_weekly_periods_start_on_monday_midnight_utc() -> None:
    period = period_of(aligned("1w"), utc(2026, 2, 15, 10))
    assert period.start.weekday() == 0
    assert period.start.time() == datetime.min.time()


def test_leap_february_is_29_days_and_common_february_is_28() -> None:
    assert period_of(aligned("1M"), utc(2024, 2, 29, 12)) == Period(
        utc(2024, 2, 1), utc(2024, 3, 1)
    )
    assert period_of(aligned("1d"), utc(2024, 2, 29, 12)) == Period(
        utc(2024, 2, 29), utc(2024, 3, 1)
    )
    leap = period_of(aligned("1M"), utc(2024, 2, 10))
    common = period_of(aligned("1M"), utc(2023, 2, 10))
    assert leap.end - leap.start == timedelta(days=29)
    assert common.end - common.start == timedelta(days=28)


def test_a_leap_year_is_366_days_long() -> None:
    assert period_of(aligned("1Y"), utc(2024, 6, 1)).end - utc(2024, 1, 1) == timedelta(days=366)
    assert period_of(aligned("1Y"), utc(2100, 6, 1)).end - utc(2100, 1, 1) == timedelta(days=365)


def test_instants_in_other_timezones_are_placed_by_their_utc_time() -> None:
    tokyo = timezone(timedelta(hours=9))
    local = datetime(2026, 3, 1, 5, 0, tzinfo=tokyo)  # 2026-02-28T20:00Z
    period = period_of(aligned("1M"), local)
    assert period == Period(utc(2026, 2, 1), utc(2026, 3, 1))
    assert period.start.tzinfo is UTC
    assert period_of(aligned("1d"), local).start == utc(2026, 2, 28)


def test_the_period_key_is_the_iso_text_of_its_start() -> None:
    period = period_of(aligned("1M"), utc(2026, 2, 15, 10))
    assert period.key == "2026-02-01T00:00:00+00:00"


def test_calendar_aligned_periods_ignore_the_anchor() -> None:
    duration = parse_duration("7d")
    t = utc(2026, 2, 15, 10)
    first = period_of(Schedule(duration, True, utc(2020, 1, 3, 4, 5)), t)
    second = period_of(Schedule(duration, True, utc(2026, 2, 15, 9)), t)
    assert first == second


# --- rolling examples ------------------------------------------------------------------------


def test_rolling_fixed_periods_are_counted_from_the_anchor() -> None:
    schedule = rolling("1d", utc(2026, 2, 15, 10, 30))
    assert period_of(schedule, utc(2026, 2, 17, 9)) == Period(
        utc(2026, 2, 16, 10, 30), utc(2026, 2, 17, 10, 30)
    )
    assert period_of(schedule, utc(2026, 2, 15, 10, 30)).start == utc(2026, 2, 15, 10, 30)


def test_rolling_month_anchored_on_the_31st_clamps_without_drifting() -> None:
    schedule = rolling("1M", utc(2026, 1, 31, 8))
    january = period_of(schedule, utc(2026, 2, 1))
    assert january == Period(utc(2026, 1, 31, 8), utc(2026, 2, 28, 8))
    february = next_period(schedule, january)
    assert february == Period(utc(2026, 2, 28, 8), utc(2026, 3, 31, 8))
    assert next_period(schedule, february) == Period(utc(2026, 3, 31, 8), utc(2026, 4, 30, 8))
    assert period_of(schedule, utc(2026, 3, 30)) == february


def test_rolling_month_anchored_on_the_31st_uses_the_29th_in_a_leap_february() -> None:
    schedule = rolling("1M", utc(2024, 1, 31))
    assert period_of(schedule, utc(2024, 2, 29, 12)) == Period(utc(2024, 2, 29), utc(2024, 3, 31))


def test_rolling_year_anchored_on_leap_day_falls_back_to_february_28() -> None:
    schedule = rolling("1Y", utc(2024, 2, 29))
    assert period_of(schedule, utc(2025, 6, 1)) == Period(utc(2025, 2, 28), utc(2026, 2, 28))
    assert period_of(schedule, utc(2028, 2, 29)) == Period(utc(2028, 2, 29), utc(2029, 2, 28))


def test_rolling_instant_early_in_the_anchor_day_of_month_belongs_to_the_previous_period() -> None:
    schedule = rolling("1Q", utc(2026, 1, 15, 12))
    assert period_of(schedule, utc(2026, 7, 15, 11, 59)) == Period(
        utc(2026, 4, 15, 12), utc(2026, 7, 15, 12)
    )


def test_instants_before_the_anchor_fall_in_earlier_periods() -> None:
    assert period_of(rolling("1h", utc(2026, 1, 1, 0, 30)), utc(2025, 12, 31, 22)) == Period(
        utc(2025, 12, 31, 21, 30), utc(2025, 12, 31, 22, 30)
    )
    assert period_of(rolling("1M", utc(2026, 3, 31)), utc(2026, 2, 27)) == Period(
        utc(2026, 1, 31), utc(2026, 2, 28)
    )


def test_a_non_utc_anchor_is_normalised_to_utc() -> None:
    anchor = datetime(2026, 2, 1, 1, 0, tzinfo=timezone(timedelta(hours=2)))  # 2026-01-31T23:00Z
    schedule = rolling("1M", anchor)
    assert schedule.anchor.tzinfo is UTC
    assert period_of(schedule, utc(2026, 2, 10)).start == utc(2026, 1, 31, 23)


# --- helpers and validation -------------------------------------------------------------------


def test_seconds_until_end_counts_down_to_the_period_end() -> None:
    schedule = aligned("1h")
    assert seconds_until_end(schedule, utc(2026, 2, 15, 10, 59, 30)) == 30.0
    assert seconds_until_end(schedule, utc(2026, 2, 15, 10)) == 3600.0
    assert seconds_until_end(schedule, utc(2026, 2, 15, 10, 59, 59, 999999)) == 1e-6


def test_period_contains_its_start_but_not_its_end() -> None:
    period = Period(utc(2026, 2, 1), utc(2026, 3, 1))
    assert period.contains(utc(2026, 2, 1))
    assert period.contains(utc(2026, 2, 28, 23, 59, 59, 999999))
    assert not period.contains(utc(2026, 3, 1))
    assert not period.contains(utc(2026, 1, 31, 23, 59, 59, 999999))


def test_naive_datetimes_are_rejected_everywhere() -> None:
    naive = datetime(2026, 2, 15, 10)
    with pytest.raises(ValueError, match="timezone-aware"):
        period_of(aligned("1d"), naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        Schedule(parse_duration("1d"), calendar_aligned=False, anchor=naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        Period(naive, utc(2026, 2, 16))
    with pytest.raises(ValueError, match="timezone-aware"):
        Period(utc(2026, 2, 15), utc(2026, 2, 16)).contains(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        seconds_until_end(aligned("1d"), naive)


def test_an_empty_or_inverted_period_is_rejected() -> None:
    with pytest.raises(ValueError, match="not before"):
        Period(utc(2026, 2, 1), utc(2026, 2, 1))
    with pytest.raises(ValueError, match="not before"):
        Period(utc(2026, 3, 1), utc(2026, 2, 1))


# --- properties ------------------------------------------------------------------------------


@given(schedules, instants)
def test_every_instant_falls_in_exactly_the_period_returned(
    schedule: Schedule, t: datetime
) -> None:
    period = period_of(schedule, t)
    assert period.start < period.end
    assert period.start <= t < period.end
    assert period.contains(t)
    assert period.start.tzinfo is UTC
    assert period.end.tzinfo is UTC
    assert seconds_until_end(schedule, t) == (period.end - t).total_seconds() > 0


@given(schedules, instants)
def test_periods_tile_time_with_no_gap_and_no_overlap(schedule: Schedule, t: datetime) -> None:
    period = period_of(schedule, t)
    following = period_of(schedule, period.end)
    assert following.start == period.end
    assert next_period(schedule, period) == following
    preceding = period_of(schedule, period.start - ONE_US)
    assert preceding.end == period.start


@given(schedules, instants)
def test_period_of_is_idempotent_for_any_instant_inside_the_period(
    schedule: Schedule, t: datetime
) -> None:
    period = period_of(schedule, t)
    assert period_of(schedule, period.start) == period
    assert period_of(schedule, period.end - ONE_US) == period


@given(schedules, instants, st.data())
def test_every_instant_between_start_and_end_maps_to_the_same_period(
    schedule: Schedule, t: datetime, data: st.DataObject
) -> None:
    period = period_of(schedule, t)
    span_us = (period.end - period.start) // ONE_US
    offset = data.draw(st.integers(min_value=0, max_value=span_us - 1))
    assert period_of(schedule, period.start + offset * ONE_US) == period


@given(durations, st.booleans(), instants, instants)
def test_the_result_depends_only_on_the_inputs(
    duration: Duration, calendar_aligned: bool, anchor: datetime, t: datetime
) -> None:
    first = period_of(Schedule(duration, calendar_aligned, anchor), t)
    rebuilt = Schedule(parse_duration(str(duration)), calendar_aligned, anchor + timedelta(0))
    assert period_of(rebuilt, t + timedelta(0)) == first
    shifted = t.astimezone(timezone(timedelta(hours=-7, minutes=-30)))
    assert period_of(rebuilt, shifted) == first


@given(durations, instants)
def test_calendar_aligned_periods_start_on_a_multiple_of_the_duration(
    duration: Duration, t: datetime
) -> None:
    period = period_of(Schedule(duration, True, t), t)
    if duration.unit in MONTHS_PER_UNIT:
        months = duration.count * MONTHS_PER_UNIT[duration.unit]
        index = (period.start.year - 1970) * 12 + period.start.month - 1
        assert (period.start.day, period.start.time()) == (1, datetime.min.time())
        assert index % months == 0
        end_index = (period.end.year - 1970) * 12 + period.end.month - 1
        assert end_index - index == months
    else:
        length = timedelta(seconds=duration.count * FIXED_SECONDS[duration.unit])
        origin = EPOCH + timedelta(days=4) if duration.unit == "w" else EPOCH
        assert (period.start - origin) % length == timedelta(0)
        assert period.end - period.start == length


@given(durations, instants, instants)
def test_rolling_periods_start_at_the_anchor_shifted_by_whole_durations(
    duration: Duration, anchor: datetime, t: datetime
) -> None:
    period = period_of(Schedule(duration, False, anchor), t)
    if duration.unit in MONTHS_PER_UNIT:
        assert period.start.time() == anchor.time()
        last_day = calendar.monthrange(period.start.year, period.start.month)[1]
        assert period.start.day == min(anchor.day, last_day)
        months = duration.count * MONTHS_PER_UNIT[duration.unit]
        delta = (period.start.year - anchor.year) * 12 + period.start.month - anchor.month
        assert delta % months == 0
    else:
        length = timedelta(seconds=duration.count * FIXED_SECONDS[duration.unit])
        assert (period.start - anchor) % length == timedelta(0)
        assert period.end - period.start == length


@given(schedules, st.lists(instants, min_size=1, max_size=20))
def test_the_period_memo_answers_exactly_as_period_of(
    schedule: Schedule, moments: list[datetime]
) -> None:
    memo = PeriodMemo()
    for t in moments:
        assert memo.period_of(schedule, t) == period_of(schedule, t)
