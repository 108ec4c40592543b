"""Budget periods: where each period of a ``budget_duration`` starts and ends.

As LiteLLM resets budgets, day-long and longer periods end at midnight in a
time zone (``litellm_settings.timezone``), found from ``budget_duration``:

- a whole number of days, in any unit (``1d``, ``24h``, ``86400``): daily,
  ``7d`` (or ``1w``): on Mondays, ``30d``: on the 1st of each month;
- any other number of days (``2d``, ``14d``, ``2w``, ``60d``): every N days,
  counted from the start of the day the budget was set (LiteLLM's "midnight
  today plus N days");
- ``Nmo`` (a whole number of months): on the 1st of every N-th month, counted
  from the month the budget was set (``1mo`` is monthly; ``3mo`` set in
  November resets on 1 February, 1 May, ...);
- anything shorter than a day, or not a whole number of days (``1h``, ``30m``,
  ``10s``, ``36h``): every duration from when the budget was set; no time of
  day applies.

The first period runs from when the budget was set to the first of these
resets (or to a given end, for a schedule moved from an older one). Midnight
is the first instant of the local day: where clocks jump over 00:00 at a DST
change, the day starts when it does (01:00), and a day is 23 or 25 hours long
when the clocks change within it.

Pure functions of their arguments: every process computes the same periods.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.keys.durations import duration_parts, duration_seconds

DEFAULT_ZONE = "UTC"
DAY_S = 86400
WEEK_DAYS = 7
MONTH_DAYS = 30  # "30d" means monthly, as in LiteLLM

Kind = Literal["rolling", "days", "weeks", "months"]


@dataclass(frozen=True, slots=True)
class Cadence:
    """How a ``budget_duration`` repeats: ``count`` seconds (rolling), days, weeks or months."""

    kind: Kind
    count: float


def cadence(budget_duration: str) -> Cadence:
    """``"1d"`` -> daily, ``"7d"`` -> weekly, ``"30d"``/``"1mo"`` -> monthly, ...; ``BadDuration``
    for text that is no duration."""
    number, unit = duration_parts(budget_duration)
    if unit == "mo" and number.is_integer():
        return Cadence("months", number)
    seconds = duration_seconds(budget_duration)
    if seconds % DAY_S:
        return Cadence("rolling", seconds)
    days = seconds // DAY_S
    if days == WEEK_DAYS:
        return Cadence("weeks", 1)
    if days == MONTH_DAYS:
        return Cadence("months", 1)
    return Cadence("days", days)


def time_zone(name: str) -> tzinfo:
    """The zone named; UTC without the time zone database's help."""
    if name == DEFAULT_ZONE:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # The config check refused this name where the schedule was set; a process whose
        # machine lacks the zone must still serve the key, so it counts in UTC.
        return UTC


def first_end(rule: Cadence, zone: tzinfo, start: float) -> float:
    """When a period that starts at ``start`` (when the budget was set) ends: the first reset."""
    return _grid(rule, zone, start, start)[1]


def period(
    rule: Cadence, zone: tzinfo, start: float, end: float, now: float
) -> tuple[float, float]:
    """(start, end) of the period holding ``now``, for a schedule whose first period is
    [``start``, ``end``); later periods follow ``rule``'s resets after ``end``."""
    if now < end:
        return start, end
    floor, following = _grid(rule, zone, end, now)
    return max(end, floor), following


def rolling_period(anchor: float, length_s: float, now: float) -> tuple[float, float]:
    """Periods of ``length_s`` counted from ``anchor`` (sub-day durations, and schedules set
    before calendar periods)."""
    count = math.floor(max(0.0, now - anchor) / length_s)
    begin = anchor + count * length_s
    if begin + length_s <= now:  # float rounding at an exact boundary
        begin += length_s
    return begin, begin + length_s


# --- the resets ----------------------------------------------------------------------------


def _grid(rule: Cadence, zone: tzinfo, origin: float, now: float) -> tuple[float, float]:
    """The last reset at or before ``now`` and the first after it (``now >= origin``). Every N
    days or months count from ``origin``'s day or month."""
    if rule.kind == "rolling":
        return rolling_period(origin, rule.count, now)
    today = _day(now, zone)
    if rule.kind == "weeks":
        monday = today - timedelta(days=today.weekday())
        return _midnight(monday, zone), _midnight(monday + timedelta(days=WEEK_DAYS), zone)
    count = int(rule.count)
    if rule.kind == "days":
        day = today.toordinal()
        first = day - (day - _day(origin, zone).toordinal()) % count
        return (
            _midnight(date.fromordinal(first), zone),
            _midnight(date.fromordinal(first + count), zone),
        )
    month = _month_index(today)
    first = month - (month - _month_index(_day(origin, zone))) % count
    return _midnight(_first_of(first), zone), _midnight(_first_of(first + count), zone)


def _day(instant: float, zone: tzinfo) -> date:
    return datetime.fromtimestamp(instant, zone).date()


def _midnight(day: date, zone: tzinfo) -> float:
    # A wall time in a DST gap reads with the offset from before the change (fold=0), which
    # lands on the first instant the day has; a repeated midnight is its first occurrence.
    return datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def _first_of(month_index: int) -> date:
    return date(month_index // 12, month_index % 12 + 1, 1)
