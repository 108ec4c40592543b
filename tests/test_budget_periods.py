"""Key and team budgets reset as LiteLLM's do: at midnight in ``litellm_settings.timezone``.

Daily (``1d``/``24h``) at every midnight, weekly (``7d``) on Mondays, monthly
(``30d``/``1mo``) on the 1st; other whole days (``2d``, ``14d``, ``2w``) every N
days and ``Nmo`` every N months, counted from the day or month the budget was
set; sub-day durations every duration from when it was set. The first part
proves the boundaries as pure functions (month ends, leap years, DST changes,
schedules moved from older rules); the second over real gateway processes,
with the expected boundary computed here from the clock: ``/key/info`` and
``/team/info`` report it and the 400 ``budget_exceeded`` message names it.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openai
import orjson
import pytest

from gateway.keys.budgets import BudgetBook
from gateway.keys.durations import duration_seconds
from gateway.keys.model import Limits
from gateway.keys.periods import Cadence, cadence
from support.clients import sdk_client
from support.control import Admin, control_db, fleet_env, wait_for
from support.fleet import UpstreamFleet
from support.gateway_process import GatewayProcess, StartGateway, run_gateway, write_config
from support.ledger import execute, fetch
from support.redis_server import shared_redis_prefix

__all__ = ["control_db", "shared_redis_prefix"]

DAY_S = 86400.0


def at(zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    """A wall time in ``zone`` as epoch seconds (the first one, where it repeats)."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)).timestamp()


def schedule(duration: str, anchor: float, zone: str | None = "UTC") -> Limits:
    """A budget schedule set at ``anchor`` (as the admin API records it)."""
    return Limits(
        max_budget=1.0,
        budget_duration=duration,
        budget_duration_s=duration_seconds(duration),
        budget_anchor=anchor,
        budget_timezone=zone,
    )


def periods(limits: Limits, now: float, count: int) -> list[tuple[float, float]]:
    """The period holding ``now`` and the ``count - 1`` after it."""
    found = []
    for _ in range(count):
        start, end = limits.period(now)
        assert end is not None
        found.append((start, end))
        now = end
    return found


# --- which durations are calendar periods ------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        ("1d", Cadence("days", 1)),
        ("24h", Cadence("days", 1)),
        ("86400", Cadence("days", 1)),
        ("7d", Cadence("weeks", 1)),
        ("1w", Cadence("weeks", 1)),
        ("168h", Cadence("weeks", 1)),
        ("30d", Cadence("months", 1)),
        ("1mo", Cadence("months", 1)),
        ("3mo", Cadence("months", 3)),
        ("12mo", Cadence("months", 12)),
        ("2d", Cadence("days", 2)),
        ("14d", Cadence("days", 14)),
        ("2w", Cadence("days", 14)),
        ("60d", Cadence("days", 60)),
        ("10s", Cadence("rolling", 10)),
        ("30m", Cadence("rolling", 1800)),
        ("1h", Cadence("rolling", 3600)),
        ("36h", Cadence("rolling", 129600)),
        ("1.5d", Cadence("rolling", 129600)),
    ],
)
def test_each_duration_resets_on_its_calendar_rule(duration: str, expected: Cadence) -> None:
    assert cadence(duration) == expected


# --- the boundaries ------------------------------------------------------------------------


def test_daily_resets_at_every_midnight_across_month_ends_and_leap_days() -> None:
    limits = schedule("1d", at("UTC", 2028, 2, 27, 15, 30))
    assert periods(limits, limits.budget_anchor, 4) == [
        (at("UTC", 2028, 2, 27, 15, 30), at("UTC", 2028, 2, 28)),
        (at("UTC", 2028, 2, 28), at("UTC", 2028, 2, 29)),
        (at("UTC", 2028, 2, 29), at("UTC", 2028, 3, 1)),
        (at("UTC", 2028, 3, 1), at("UTC", 2028, 3, 2)),
    ]
    # Not a leap year; and "24h" is the same schedule.
    limits = schedule("24h", at("UTC", 2027, 2, 28, 23, 59))
    assert periods(limits, limits.budget_anchor, 2) == [
        (at("UTC", 2027, 2, 28, 23, 59), at("UTC", 2027, 3, 1)),
        (at("UTC", 2027, 3, 1), at("UTC", 2027, 3, 2)),
    ]


def test_weekly_resets_on_monday_midnight_and_a_whole_week_when_set_at_monday_midnight() -> None:
    sunday = at("UTC", 2026, 11, 22, 9)
    assert schedule("7d", sunday).period(sunday) == (sunday, at("UTC", 2026, 11, 23))
    monday = at("UTC", 2026, 11, 23)
    assert schedule("1w", monday).period(monday) == (monday, at("UTC", 2026, 11, 30))
    limits = schedule("7d", at("UTC", 2026, 12, 30, 12))  # a Wednesday, across the year's end
    assert periods(limits, limits.budget_anchor, 3) == [
        (at("UTC", 2026, 12, 30, 12), at("UTC", 2027, 1, 4)),
        (at("UTC", 2027, 1, 4), at("UTC", 2027, 1, 11)),
        (at("UTC", 2027, 1, 11), at("UTC", 2027, 1, 18)),
    ]


@pytest.mark.parametrize("duration", ["30d", "1mo"])
def test_monthly_resets_on_the_first_across_the_year_end_and_a_leap_february(
    duration: str,
) -> None:
    limits = schedule(duration, at("UTC", 2027, 12, 15, 8))
    assert periods(limits, limits.budget_anchor, 4) == [
        (at("UTC", 2027, 12, 15, 8), at("UTC", 2028, 1, 1)),
        (at("UTC", 2028, 1, 1), at("UTC", 2028, 2, 1)),
        (at("UTC", 2028, 2, 1), at("UTC", 2028, 3, 1)),
        (at("UTC", 2028, 3, 1), at("UTC", 2028, 4, 1)),
    ]
    february = limits.period(at("UTC", 2028, 2, 29, 23, 59))
    assert february[1] - february[0] == 29 * DAY_S
    # Set on the 31st: the period ends on the 1st, whatever the next month's length.
    limits = schedule(duration, at("UTC", 2027, 1, 31, 12))
    assert limits.period(limits.budget_anchor)[1] == at("UTC", 2027, 2, 1)


def test_other_day_counts_reset_every_n_days_from_the_start_of_the_day_they_were_set() -> None:
    wednesday = at("UTC", 2026, 11, 18, 14, 37)
    assert periods(schedule("2d", wednesday), wednesday, 3) == [
        (wednesday, at("UTC", 2026, 11, 20)),
        (at("UTC", 2026, 11, 20), at("UTC", 2026, 11, 22)),
        (at("UTC", 2026, 11, 22), at("UTC", 2026, 11, 24)),
    ]
    fortnight = periods(schedule("14d", wednesday), wednesday, 3)
    assert fortnight == periods(schedule("2w", wednesday), wednesday, 3)
    assert fortnight == [
        (wednesday, at("UTC", 2026, 12, 2)),
        (at("UTC", 2026, 12, 2), at("UTC", 2026, 12, 16)),
        (at("UTC", 2026, 12, 16), at("UTC", 2026, 12, 30)),
    ]
    # Far later, the period is still on the same grid of days.
    later = schedule("14d", wednesday).period(at("UTC", 2028, 2, 29, 12))
    assert (later[0] - at("UTC", 2026, 11, 18)) % (14 * DAY_S) == 0
    assert later[1] - later[0] == 14 * DAY_S


def test_n_months_reset_on_the_first_every_n_months_from_the_month_they_were_set() -> None:
    november = at("UTC", 2026, 11, 22, 9)
    assert periods(schedule("3mo", november), november, 3) == [
        (november, at("UTC", 2027, 2, 1)),
        (at("UTC", 2027, 2, 1), at("UTC", 2027, 5, 1)),
        (at("UTC", 2027, 5, 1), at("UTC", 2027, 8, 1)),
    ]
    assert schedule("12mo", november).period(at("UTC", 2028, 3, 3)) == (
        at("UTC", 2027, 11, 1),
        at("UTC", 2028, 11, 1),
    )


def test_sub_day_durations_roll_forward_by_their_length_from_when_they_were_set() -> None:
    anchor = at("UTC", 2026, 11, 22, 9, 56) + 23.25
    assert periods(schedule("10s", anchor), anchor + 25, 2) == [
        (anchor + 20, anchor + 30),
        (anchor + 30, anchor + 40),
    ]
    # No time of day and no zone: an hour is 3600 s across a DST change too.
    spring = at("America/New_York", 2027, 3, 14, 1, 30)
    limits = schedule("1h", spring, "America/New_York")
    assert periods(limits, spring, 2) == [(spring, spring + 3600), (spring + 3600, spring + 7200)]


# --- time zones and DST ---------------------------------------------------------------------


def test_midnight_is_local_in_the_zone_including_half_hour_offsets() -> None:
    zone = "Asia/Kolkata"
    limits = schedule("1d", at(zone, 2026, 11, 22, 10), zone)
    _start, end = limits.period(limits.budget_anchor)
    assert end == at(zone, 2026, 11, 23)
    assert datetime.fromtimestamp(end, UTC) == datetime(2026, 11, 22, 18, 30, tzinfo=UTC)


def test_days_are_23_and_25_hours_long_when_the_clocks_change() -> None:
    zone = "America/New_York"
    limits = schedule("1d", at(zone, 2027, 3, 1), zone)
    spring = limits.period(at(zone, 2027, 3, 14, 12))
    assert spring == (at(zone, 2027, 3, 14), at(zone, 2027, 3, 15))
    assert spring[1] - spring[0] == 23 * 3600
    autumn = limits.period(at(zone, 2027, 11, 7, 12))
    assert autumn[1] - autumn[0] == 25 * 3600
    # The month holding the spring change is an hour short.
    month = schedule("1mo", at(zone, 2027, 2, 10), zone).period(at(zone, 2027, 3, 20))
    assert month == (at(zone, 2027, 3, 1), at(zone, 2027, 4, 1))
    assert month[1] - month[0] == 31 * DAY_S - 3600
    # The week holding Berlin's spring change ends at Monday midnight summer time.
    berlin = "Europe/Berlin"
    week = schedule("7d", at(berlin, 2027, 3, 20), berlin).period(at(berlin, 2027, 3, 28, 12))
    assert week == (at(berlin, 2027, 3, 22), at(berlin, 2027, 3, 29))
    assert datetime.fromtimestamp(week[1], UTC) == datetime(2027, 3, 28, 22, tzinfo=UTC)


def test_a_day_whose_midnight_the_clocks_skip_or_repeat_starts_at_its_first_instant() -> None:
    # Santiago skips 00:00-01:00 on 6 September 2026: that day starts at 01:00 (-03).
    santiago = "America/Santiago"
    limits = schedule("1d", at(santiago, 2026, 9, 1), santiago)
    day = limits.period(at(santiago, 2026, 9, 6, 12))
    assert datetime.fromtimestamp(day[0], ZoneInfo(santiago)).isoformat() == (
        "2026-09-06T01:00:00-03:00"
    )
    assert day[1] - day[0] == 23 * 3600
    # Havana repeats 00:00-01:00 on 1 November 2026: the day starts at the first one.
    havana = "America/Havana"
    limits = schedule("1d", at(havana, 2026, 10, 20), havana)
    day = limits.period(at(havana, 2026, 11, 1, 12))
    assert datetime.fromtimestamp(day[0], UTC) == datetime(2026, 11, 1, 4, tzinfo=UTC)
    assert day[1] - day[0] == 25 * 3600


ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata"]
ZONES += ["America/Santiago", "America/Havana"]
DURATIONS = ["1d", "7d", "30d", "1mo", "2d", "14d", "3mo", "1h", "10s", "36h"]


@pytest.mark.parametrize("zone", ZONES)
def test_periods_tile_time_and_calendar_resets_fall_on_local_midnights(zone: str) -> None:
    """Two years of instants: each lies in its period, periods meet end to start, and a
    calendar reset is where the local day (and week or month) changes."""
    tz = ZoneInfo(zone)
    picker = random.Random(zone)
    anchor = at(zone, 2026, 11, 22, 9, 56) + 0.5
    for duration in DURATIONS:
        limits = schedule(duration, anchor, zone)
        rule = cadence(duration)
        instant = anchor
        while instant < anchor + 730 * DAY_S:
            start, end = limits.period(instant)
            assert end is not None and start <= instant < end, (duration, instant)
            assert limits.period(start) == (start, end)
            assert limits.period(end)[0] == end
            if rule.kind != "rolling":
                before = datetime.fromtimestamp(end - 0.001, tz)
                local_end = datetime.fromtimestamp(end, tz)
                assert before.date() != local_end.date(), (duration, local_end)
                if rule.kind == "weeks":
                    assert local_end.weekday() == 0
                if rule.kind == "months":
                    assert local_end.day == 1
            instant += picker.uniform(0.2, 3.0) * DAY_S


# --- schedules from before, and zone changes -------------------------------------------------


def test_a_schedule_from_before_calendar_periods_keeps_rolling_from_its_anchor() -> None:
    anchor = at("UTC", 2026, 11, 1, 14, 37)
    legacy = Limits.from_doc(
        {
            "max_budget": 5,
            "budget_duration": "1d",
            "budget_duration_s": DAY_S,
            "budget_anchor": anchor,
        }
    )
    assert legacy.budget_timezone is None
    now = at("UTC", 2026, 11, 22, 9)
    assert legacy.period(now) == (anchor + 20 * DAY_S, anchor + 21 * DAY_S)


def test_a_moved_schedule_finishes_its_period_then_follows_the_new_zones_midnights() -> None:
    anchor = at("UTC", 2026, 11, 1, 14, 37)
    legacy = Limits.from_doc(
        {
            "max_budget": 5,
            "budget_duration": "1d",
            "budget_duration_s": DAY_S,
            "budget_anchor": anchor,
        }
    )
    now = at("UTC", 2026, 11, 22, 9)
    moved = legacy.in_zone("UTC", now, restarted=False)
    current = (anchor + 20 * DAY_S, anchor + 21 * DAY_S)  # 21 Nov 14:37 - 22 Nov 14:37
    assert moved.period(now) == current
    assert periods(moved, current[1], 2) == [
        (current[1], at("UTC", 2026, 11, 23)),
        (at("UTC", 2026, 11, 23), at("UTC", 2026, 11, 24)),
    ]
    # The move survives the document's round trip.
    assert Limits.from_doc(moved.to_doc()) == moved

    # A zone change: UTC's day runs out, then Tokyo's midnights (15:00 UTC).
    tokyo = moved.in_zone("Asia/Tokyo", at("UTC", 2026, 11, 25, 9), restarted=False)
    assert tokyo.period(at("UTC", 2026, 11, 25, 9)) == (
        at("UTC", 2026, 11, 25),
        at("UTC", 2026, 11, 26),
    )
    assert tokyo.period(at("UTC", 2026, 11, 26, 1)) == (
        at("UTC", 2026, 11, 26),
        at("Asia/Tokyo", 2026, 11, 27),
    )
    assert tokyo.period(at("UTC", 2026, 11, 27, 1)) == (
        at("Asia/Tokyo", 2026, 11, 27),
        at("Asia/Tokyo", 2026, 11, 28),
    )
    # Same zone: nothing moves.
    assert tokyo.in_zone("Asia/Tokyo", at("UTC", 2026, 11, 28), restarted=False) is tokyo


def test_a_schedule_set_anew_starts_now_and_drops_an_earlier_move() -> None:
    anchor = at("UTC", 2026, 11, 1, 14, 37)
    legacy = Limits.from_doc(
        {
            "max_budget": 5,
            "budget_duration": "1d",
            "budget_duration_s": DAY_S,
            "budget_anchor": anchor,
        }
    )
    now = at("UTC", 2026, 11, 22, 9)
    moved = legacy.in_zone("UTC", now, restarted=False)
    assert moved.budget_first_end is not None
    # What /key/update with budget_duration does: the anchor moves to now...
    later = at("UTC", 2026, 11, 22, 10)
    reset = Limits(
        max_budget=5,
        budget_duration="7d",
        budget_duration_s=7 * DAY_S,
        budget_anchor=later,
        budget_timezone=moved.budget_timezone,
        budget_first_end=moved.budget_first_end,
    )
    # ...and the earlier move no longer holds, even before the admin API drops it.
    assert reset.period(later) == (later, at("UTC", 2026, 11, 23))
    fresh = reset.in_zone("Europe/Berlin", later, restarted=True)
    assert fresh.budget_first_end is None and fresh.budget_timezone == "Europe/Berlin"
    assert fresh.period(later) == (later, at("Europe/Berlin", 2026, 11, 23))


def test_no_budget_duration_means_one_period_for_the_whole_life() -> None:
    assert Limits(max_budget=1.0).period(time.time()) == (0.0, None)


class _Ledger:
    """KeyReads that remember what the reconciliation asked."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    async def key_get(self, key_hash: str) -> str | None:
        return None

    async def team_get(self, team_id: str) -> str | None:
        return None

    async def spend_since(
        self, *, key_hash: str | None = None, team_id: str | None = None, since: float
    ) -> float:
        self.asked.append(since)
        return 0.0


async def test_the_ledger_reconciliation_sums_from_the_periods_own_start() -> None:
    ledger = _Ledger()
    book = BudgetBook(ledger, None, reconcile_s=0.0)
    limits = schedule("1d", at("America/New_York", 2026, 11, 20, 15), "America/New_York")
    now = at("America/New_York", 2026, 11, 22, 9)
    try:
        await book.spent("key:k", ("key_hash", "k"), limits, now)
        await asyncio.sleep(0.01)
        await book.spent(
            "key:k", ("key_hash", "k"), limits, at("America/New_York", 2026, 11, 23, 1)
        )
        await asyncio.sleep(0.01)
    finally:
        await book.close()
    assert ledger.asked == [
        at("America/New_York", 2026, 11, 22),
        at("America/New_York", 2026, 11, 23),
    ]


# --- the config ------------------------------------------------------------------------------


def test_an_unknown_timezone_is_a_config_error_naming_its_field(tmp_path: Path) -> None:
    config: dict[str, Any] = {
        "model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m"}}],
        "litellm_settings": {"timezone": "Mars/Olympus_Mons"},
    }
    result = run_gateway(["check-config", str(write_config(tmp_path / "bad.yaml", config))])
    assert result.returncode == 1
    assert "litellm_settings.timezone" in result.stdout + result.stderr
    assert "Mars/Olympus_Mons" in result.stdout + result.stderr

    config["litellm_settings"]["timezone"] = "US/Eastern"
    result = run_gateway(["check-config", str(write_config(tmp_path / "ok.yaml", config))])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 warnings" in result.stdout and "litellm_settings.timezone" not in result.stdout


# --- over real processes ---------------------------------------------------------------------

MESSAGES = [{"role": "user", "content": "hello"}]
TINY_BUDGET = 1e-9  # one request spends more than this
RESETS_AT = re.compile(r"it resets at (\S+) \(budget_duration ([^)]+)\)")


def keys_config(fleet: UpstreamFleet, prefix: str, zone: str | None) -> dict[str, Any]:
    chat = fleet.deployment("chat", "chat-a")
    chat["model_info"].update(input_cost_per_token=1e-06, output_cost_per_token=2e-06)
    config: dict[str, Any] = {
        "model_list": [chat],
        "router_settings": {"num_retries": 0, "redis_key_prefix": prefix},
        "general_settings": {"proxy_batch_write_at": 0.2},
    }
    if zone is not None:
        config["litellm_settings"] = {"timezone": zone}
    return config


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def local_midnight(day: date, tz: ZoneInfo) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


def next_midnight(now: float, tz: ZoneInfo) -> float:
    return local_midnight(datetime.fromtimestamp(now, tz).date() + timedelta(days=1), tz)


def next_monday(now: float, tz: ZoneInfo) -> float:
    today = datetime.fromtimestamp(now, tz).date()
    return local_midnight(today + timedelta(days=7 - today.weekday()), tz)


def first_of_month_after(now: float, tz: ZoneInfo, months: int = 1) -> float:
    today = datetime.fromtimestamp(now, tz).date()
    index = today.year * 12 + today.month - 1 + months
    return local_midnight(date(index // 12, index % 12 + 1, 1), tz)


EXPECTED: dict[str, Callable[[float, ZoneInfo], float]] = {
    "1d": next_midnight,
    "24h": next_midnight,
    "7d": next_monday,
    "30d": first_of_month_after,
    "1mo": first_of_month_after,
}


def expected_resets(
    rule: Callable[[float, ZoneInfo], float], tz: ZoneInfo, before: float
) -> set[float]:
    """The reset ``rule`` gives now, and the one it gives a moment later: the call in between
    may have crossed a boundary."""
    return {rule(before, tz), rule(time.time(), tz)}


def chat(client: openai.OpenAI) -> str:
    completion = client.chat.completions.create(model="chat", messages=MESSAGES)
    return completion.choices[0].message.content or ""


def refusal(client: openai.OpenAI) -> tuple[float, str]:
    """The reset time and budget_duration a ``budget_exceeded`` refusal names."""
    with pytest.raises(openai.BadRequestError) as caught:
        chat(client)
    error = caught.value
    assert error.status_code == 400 and error.code == "budget_exceeded", error.message
    named = RESETS_AT.search(error.message)
    assert named is not None, error.message
    return epoch(named.group(1)), named.group(2)


def spend_then_refusal(gateway: GatewayProcess, key: str) -> tuple[float, str]:
    with sdk_client(gateway, api_key=key) as client:
        assert chat(client)
        return refusal(client)


@pytest.fixture
def gateway_in(
    fleet: UpstreamFleet, start_gateway: StartGateway, control_db: str, shared_redis_prefix: str
) -> Iterator[Callable[[str | None], GatewayProcess]]:
    def start(zone: str | None) -> GatewayProcess:
        return start_gateway(
            keys_config(fleet, shared_redis_prefix, zone), env=fleet_env(control_db)
        )

    yield start


def check_calendar_keys(gateway: GatewayProcess, zone: str, durations: list[str]) -> None:
    tz = ZoneInfo(zone)
    with Admin(gateway) as admin:
        for duration in durations:
            before = time.time()
            key = admin.generate_key(
                key_alias=f"k-{duration}", max_budget=TINY_BUDGET, budget_duration=duration
            )
            expected = expected_resets(EXPECTED[duration], tz, before)
            info = admin.ok(admin.get("/key/info", key=key["key"]))["info"]
            assert epoch(info["budget_reset_at"]) in expected, (duration, info)
            assert info["budget_timezone"] == zone
            reset, named = spend_then_refusal(gateway, key["key"])
            assert named == duration
            assert reset == epoch(info["budget_reset_at"]), (duration, reset, info)


def test_without_a_timezone_keys_reset_at_utc_midnight_monday_and_the_first(
    gateway_in: Callable[[str | None], GatewayProcess],
) -> None:
    gateway = gateway_in(None)
    check_calendar_keys(gateway, "UTC", ["1d", "24h", "7d", "30d", "1mo"])


def test_an_hourly_budget_resets_an_hour_after_it_was_set(
    gateway_in: Callable[[str | None], GatewayProcess],
) -> None:
    gateway = gateway_in(None)
    with Admin(gateway) as admin:
        key = admin.generate_key(max_budget=TINY_BUDGET, budget_duration="1h")
        set_at = epoch(key["created_at"])
        assert epoch(key["budget_reset_at"]) == pytest.approx(set_at + 3600, abs=1e-5)
        info = admin.ok(admin.get("/key/info", key=key["key"]))["info"]
    assert info["budget_reset_at"] == key["budget_reset_at"]
    reset, _named = spend_then_refusal(gateway, key["key"])
    assert reset == epoch(info["budget_reset_at"])


def dst_crossing(now: float) -> tuple[str, int]:
    """A zone with DST and a month count whose next reset falls under another UTC offset than
    now: such a pair exists in every season."""
    for months in (6, 5, 4, 3, 2, 1):
        for zone in ("America/New_York", "Europe/Berlin", "Australia/Sydney", "America/Santiago"):
            tz = ZoneInfo(zone)
            reset = first_of_month_after(now, tz, months)
            if (
                datetime.fromtimestamp(reset, tz).utcoffset()
                != datetime.fromtimestamp(now, tz).utcoffset()
            ):
                return zone, months
    raise AssertionError("no DST zone changes its offset within six months")


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "dst"])
def test_with_a_timezone_keys_and_teams_reset_at_its_local_midnight(
    gateway_in: Callable[[str | None], GatewayProcess], zone: str
) -> None:
    months = 1
    if zone == "dst":
        zone, months = dst_crossing(time.time())
    tz = ZoneInfo(zone)
    gateway = gateway_in(zone)
    check_calendar_keys(gateway, zone, ["1d", "7d", "1mo"])

    # N months: the 1st of the N-th month from now, under that date's UTC offset.
    with Admin(gateway) as admin:
        before = time.time()
        key = admin.generate_key(max_budget=TINY_BUDGET, budget_duration=f"{months}mo")
        expected = {
            first_of_month_after(before, tz, months),
            first_of_month_after(time.time(), tz, months),
        }
        assert epoch(key["budget_reset_at"]) in expected
    reset, _named = spend_then_refusal(gateway, key["key"])
    assert reset == epoch(key["budget_reset_at"])

    # A team's daily budget: /team/info and the refusal name the team's reset.
    with Admin(gateway) as admin:
        before = time.time()
        team = admin.ok(
            admin.post(
                "/team/new",
                {"team_id": "t", "max_budget": TINY_BUDGET, "budget_duration": "1d"},
            )
        )
        expected = expected_resets(next_midnight, tz, before)
        member = admin.generate_key(team_id="t")["key"]
        info = admin.ok(admin.get("/team/info", team_id="t"))["team_info"]
    assert epoch(team["budget_reset_at"]) in expected
    assert info["budget_reset_at"] == team["budget_reset_at"]
    assert info["budget_timezone"] == zone
    with sdk_client(gateway, api_key=member) as client:
        assert chat(client)
        with pytest.raises(openai.BadRequestError) as caught:
            chat(client)
    assert "Budget exceeded for team 't'" in caught.value.message
    named = RESETS_AT.search(caught.value.message)
    assert named is not None and named.group(1) == info["budget_reset_at"]


def test_a_ten_second_budget_really_resets_and_lets_requests_through_again(
    gateway_in: Callable[[str | None], GatewayProcess],
) -> None:
    gateway = gateway_in(None)
    with Admin(gateway) as admin:
        key = admin.generate_key(max_budget=TINY_BUDGET, budget_duration="10s")
    set_at = epoch(key["created_at"])
    with sdk_client(gateway, api_key=key["key"]) as client:
        assert chat(client)
        first_reset, _named = refusal(client)
        # The period rolls every 10 s from when the budget was set.
        assert (first_reset - set_at) / 10 == pytest.approx(round((first_reset - set_at) / 10))

        def passes() -> bool:
            try:
                return bool(chat(client))
            except openai.BadRequestError:
                return False

        wait_for(passes, "the budget to reset", timeout=25)
        assert time.time() >= first_reset
        second_reset, _named = refusal(client)
    assert second_reset > first_reset
    steps = (second_reset - first_reset) / 10
    assert steps == pytest.approx(round(steps))


def test_a_key_from_before_calendar_periods_keeps_its_period_then_moves_when_updated(
    gateway_in: Callable[[str | None], GatewayProcess], control_db: str
) -> None:
    gateway = gateway_in("Europe/Berlin")
    with Admin(gateway) as admin:
        key = admin.generate_key(max_budget=TINY_BUDGET, budget_duration="1d")
    # The document as an earlier version wrote it: periods of whole days from its anchor.
    anchor = float(int(time.time()) - 36 * 3600)
    asyncio.run(
        execute(
            control_db,
            "UPDATE gateway_keys SET doc = (doc - 'budget_timezone' - 'budget_first_end')"
            " || jsonb_build_object('budget_anchor', $2::float8) WHERE key_hash = $1",
            key["token"],
            anchor,
        )
    )
    legacy_reset = anchor + 2 * DAY_S
    with Admin(gateway) as admin:
        info = admin.ok(admin.get("/key/info", key=key["key"]))["info"]
    assert epoch(info["budget_reset_at"]) == legacy_reset
    assert info["budget_timezone"] is None
    reset, _named = spend_then_refusal(gateway, key["key"])
    assert reset == legacy_reset

    def in_ledger() -> bool:
        with Admin(gateway) as admin:
            return bool(admin.ok(admin.get("/key/info", key=key["key"]))["info"]["spend"])

    wait_for(in_ledger, "the request's spend in the ledger")

    # Any update records the configured zone; the period in course runs to its end.
    with Admin(gateway) as admin:
        updated = admin.ok(admin.post("/key/update", {"key": key["key"], "rpm_limit": 100}))
    assert epoch(updated["budget_reset_at"]) == legacy_reset
    assert updated["budget_timezone"] == "Europe/Berlin"
    assert updated["spend"] > 0  # nothing forgiven
    stored = asyncio.run(
        fetch(
            control_db,
            "SELECT doc::text AS doc FROM gateway_keys WHERE key_hash = $1",
            key["token"],
        )
    )
    moved = Limits.from_doc(orjson.loads(stored[0]["doc"]))
    assert moved.budget_first_end == (legacy_reset - DAY_S, legacy_reset)
    assert moved.period(legacy_reset)[1] == next_midnight(legacy_reset, ZoneInfo("Europe/Berlin"))
    with sdk_client(gateway, api_key=key["key"]) as client:
        assert refusal(client)[0] == legacy_reset
