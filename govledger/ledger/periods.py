"""Budget periods: parse durations and map instants to half-open UTC periods.

Pure functions only: no I/O and no wall clock; every answer depends on the arguments alone.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property

__all__ = [
    "Duration",
    "DurationError",
    "Period",
    "Schedule",
    "next_period",
    "parse_duration",
    "period_of",
    "seconds_until_end",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIRST_MONDAY_US = 4 * 86_400_000_000  # 1970-01-05, the first Monday after the epoch
_ONE_US = timedelta(microseconds=1)

# Fixed-length units in microseconds; calendar units in months.
_FIXED_US: dict[str, int] = {
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
    "w": 7 * 86_400_000_000,
}
_MONTHS: dict[str, int] = {"M": 1, "Q": 3, "Y": 12}
_APPROX_DAYS: dict[str, int] = {"M": 30, "Q": 91, "Y": 365}

_DURATION_RE = re.compile(r"([1-9][0-9]*)([smhdwMQY])")
_ACCEPTED = (
    "a whole number >= 1 (no sign, no leading zero, no spaces) followed by one unit: "
    "s second, m minute, h hour, d day, w week, M month, Q quarter, Y year (e.g. 30s, 5m, 1M)"
)


class DurationError(ValueError):
    """A duration string or value that is not a positive count followed by a known unit."""


@dataclass(frozen=True)
class Duration:
    """A positive whole number of one unit, e.g. ``Duration(5, "m")`` for ``5m``."""

    count: int
    unit: str

    def __post_init__(self) -> None:
        count_ok = isinstance(self.count, int) and not isinstance(self.count, bool)
        if not count_ok or self.count < 1:
            raise DurationError(f"invalid duration count {self.count!r}: expected {_ACCEPTED}")
        if self.unit not in _FIXED_US and self.unit not in _MONTHS:
            raise DurationError(f"invalid duration unit {self.unit!r}: expected {_ACCEPTED}")

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"

    @property
    def is_calendar_unit(self) -> bool:
        """True for months, quarters and years, whose length varies."""
        return self.unit in _MONTHS

    @property
    def approx_seconds(self) -> int:
        """Nominal length in seconds (M=30d, Q=91d, Y=365d); for validation and display only."""
        if self.unit in _MONTHS:
            return self.count * _APPROX_DAYS[self.unit] * 86_400
        return self.count * _FIXED_US[self.unit] // 1_000_000


def parse_duration(text: str) -> Duration:
    """Parse canonical duration text such as ``30s``, ``1d``, ``6M``; raise DurationError."""
    match = _DURATION_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise DurationError(f"invalid duration {text!r}: expected {_ACCEPTED}")
    return Duration(int(match.group(1)), match.group(2))


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value!r}")


@dataclass(frozen=True)
class Schedule:
    """How a budget is cut into periods; ``anchor`` (creation time, kept in UTC) is for rolling."""

    duration: Duration
    calendar_aligned: bool
    anchor: datetime

    def __post_init__(self) -> None:
        _require_aware(self.anchor, "anchor")
        if self.anchor.tzinfo is not UTC:
            object.__setattr__(self, "anchor", self.anchor.astimezone(UTC))


@dataclass(frozen=True)
class Period:
    """A half-open interval [start, end) of time; both ends are normalised to UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        _require_aware(self.start, "start")
        _require_aware(self.end, "end")
        if not self.start < self.end:
            raise ValueError(f"period start {self.start!r} is not before end {self.end!r}")
        if self.start.tzinfo is not UTC:
            object.__setattr__(self, "start", self.start.astimezone(UTC))
        if self.end.tzinfo is not UTC:
            object.__setattr__(self, "end", self.end.astimezone(UTC))

    @cached_property
    def key(self) -> str:
        """Stable identifier of the period: the ISO-8601 text of its start."""
        return self.start.isoformat()

    def contains(self, t: datetime) -> bool:
        """True when ``start <= t < end``."""
        _require_aware(t, "t")
        return self.start <= t < self.end


def _to_us(t: datetime) -> int:
    return (t - _EPOCH) // _ONE_US


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _month_index(t: datetime) -> int:
    return (t.year - 1970) * 12 + (t.month - 1)


def _month_start(index: int) -> datetime:
    year, month0 = divmod(index, 12)
    return datetime(1970 + year, month0 + 1, 1, tzinfo=UTC)


def _add_months(anchor: datetime, months: int) -> datetime:
    """Shift ``anchor`` (UTC) by whole months, clamping the day to the target month's length."""
    year, month0 = divmod(anchor.year * 12 + anchor.month - 1 + months, 12)
    day = min(anchor.day, calendar.monthrange(year, month0 + 1)[1])
    return anchor.replace(year=year, month=month0 + 1, day=day)


def _fixed_period(length_us: int, origin_us: int, t: datetime) -> Period:
    start_us = origin_us + (_to_us(t) - origin_us) // length_us * length_us
    return Period(_from_us(start_us), _from_us(start_us + length_us))


def _aligned_month_period(months: int, t: datetime) -> Period:
    first = _month_index(t) // months * months
    return Period(_month_start(first), _month_start(first + months))


def _rolling_month_period(months: int, anchor: datetime, t: datetime) -> Period:
    # Start n lies in t's month or earlier and start n+1 in a later month, so the only
    # possible miss is start n landing later in t's own month than t: step back once.
    n = (_month_index(t) - _month_index(anchor)) // months
    start = _add_months(anchor, n * months)
    if start > t:
        n -= 1
        start = _add_months(anchor, n * months)
    return Period(start, _add_months(anchor, (n + 1) * months))


def period_of(schedule: Schedule, t: datetime) -> Period:
    """Return the period of ``schedule`` that contains the tz-aware instant ``t``."""
    _require_aware(t, "t")
    duration = schedule.duration
    unit = duration.unit
    if unit in _FIXED_US:
        length_us = duration.count * _FIXED_US[unit]
        if not schedule.calendar_aligned:
            origin_us = _to_us(schedule.anchor)
        elif unit == "w":
            origin_us = _FIRST_MONDAY_US
        else:
            origin_us = 0
        return _fixed_period(length_us, origin_us, t)
    months = duration.count * _MONTHS[unit]
    t_utc = t.astimezone(UTC)
    if schedule.calendar_aligned:
        return _aligned_month_period(months, t_utc)
    return _rolling_month_period(months, schedule.anchor, t_utc)


def next_period(schedule: Schedule, period: Period) -> Period:
    """Return the period of ``schedule`` that starts at ``period.end``."""
    return period_of(schedule, period.end)


def seconds_until_end(schedule: Schedule, t: datetime) -> float:
    """Seconds from ``t`` until the end of the period containing it (always > 0)."""
    return (period_of(schedule, t).end - t).total_seconds()


class PeriodMemo:
    """The last period of each schedule, reused while instants fall inside it (hot path)."""

    def __init__(self) -> None:
        self._last: dict[Schedule, Period] = {}

    def period_of(self, schedule: Schedule, t: datetime) -> Period:
        """Same answer as `period_of`, without recomputing within a known period."""
        last = self._last.get(schedule)
        if last is not None and last.start <= t < last.end:
            return last
        found = self._last[schedule] = period_of(schedule, t)
        return found
