"""NCRONTAB and TimeSpan schedules: parsing, next occurrence, time zones, malformed input."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from durable_local.triggers.ncrontab import CronError, CronSchedule
from durable_local.triggers.schedule import IntervalSchedule, ScheduleError, host_time_zone, parse_schedule

UTC = timezone.utc
T = datetime(2026, 3, 7, 23, 59, 59, tzinfo=UTC)  # a Saturday


def nxt(expr: str, after: datetime = T, tz: timezone | ZoneInfo = UTC) -> datetime | None:
    return CronSchedule.parse(expr, tz).next_after(after)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("0 0 2 * * *", datetime(2026, 3, 8, 2, 0, 0, tzinfo=UTC)),
        ("*/2 * * * * *", datetime(2026, 3, 8, 0, 0, 0, tzinfo=UTC)),
        ("0 */5 * * * *", datetime(2026, 3, 8, 0, 0, 0, tzinfo=UTC)),
        ("0 30 9 * * MON-FRI", datetime(2026, 3, 9, 9, 30, tzinfo=UTC)),
        ("0 30 9 * * 1-5", datetime(2026, 3, 9, 9, 30, tzinfo=UTC)),
        ("0 0 12 * * sun", datetime(2026, 3, 8, 12, 0, tzinfo=UTC)),
        ("0 0 0 1 JAN,jul *", datetime(2026, 7, 1, tzinfo=UTC)),
        ("0 0 0 1 1-3/2 *", datetime(2027, 1, 1, tzinfo=UTC)),  # Jan and Mar; Mar 1 is past
        ("15,45 10-20/5 8 * * *", datetime(2026, 3, 8, 8, 10, 15, tzinfo=UTC)),
        ("5/20 0 0 * * *", datetime(2026, 3, 8, 0, 0, 5, tzinfo=UTC)),  # 5, 25, 45
        ("0 0 0 29 2 *", datetime(2028, 2, 29, tzinfo=UTC)),  # the next leap day
        ("0 0 0 13 * FRI", datetime(2026, 3, 13, tzinfo=UTC)),  # both day fields must hold (a Friday)
        ("0 0 0 14 * FRI", datetime(2026, 8, 14, tzinfo=UTC)),
        ("30 2 * * *", datetime(2026, 3, 8, 2, 30, 0, tzinfo=UTC)),  # five fields: at second 0
    ],
)
def test_next_occurrence(expr: str, expected: datetime) -> None:
    assert nxt(expr) == expected


def test_next_is_strictly_after_and_steps_through_a_day() -> None:
    s = CronSchedule.parse("0 0 */6 * * *")
    t, seen = datetime(2026, 1, 1, tzinfo=UTC), []
    for _ in range(5):
        t = s.next_after(t)
        assert t is not None
        seen.append(t.hour)
    assert seen == [6, 12, 18, 0, 6]


def test_an_impossible_date_never_occurs() -> None:
    assert nxt("0 0 0 30 2 *") is None


def test_time_zone_wall_clock_and_daylight_saving() -> None:
    ny = ZoneInfo("America/New_York")
    # 02:00 in New York is 07:00 UTC in winter, 06:00 UTC in summer
    assert nxt("0 0 2 * * *", datetime(2026, 1, 10, tzinfo=UTC), ny) == datetime(2026, 1, 10, 7, tzinfo=UTC)
    assert nxt("0 0 2 * * *", datetime(2026, 7, 10, tzinfo=UTC), ny) == datetime(2026, 7, 10, 6, tzinfo=UTC)
    # 2026-03-08 02:30 does not exist in New York (clocks jump 02:00 -> 03:00): skipped
    assert nxt("0 30 2 * * *", datetime(2026, 3, 8, 1, tzinfo=UTC), ny) == datetime(2026, 3, 9, 6, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("* * * *", "has 4 fields"),
        ("* * * * * * *", "has 7 fields"),
        ("60 * * * * *", "second field: 60 is outside 0-59"),
        ("0 0 24 * * *", "hour field: 24 is outside 0-23"),
        ("0 0 0 0 * *", "day field: 0 is outside 1-31"),
        ("0 0 0 * 13 *", "month field: 13 is outside 1-12"),
        ("0 0 0 * * 7", "day-of-week field: 7 is outside 0-6"),
        ("*/0 * * * * *", "step '0' must be a positive number"),
        ("0 0 0 * FOO *", "month field: 'FOO' is not a number or a name"),
        ("5-1 * * * * *", "range '5-1' runs backwards"),
        ("1,,2 * * * * *", "empty list item"),
        ("x * * * * *", "second field: 'x' is not a number"),
    ],
)
def test_malformed_expressions_name_the_field(expr: str, message: str) -> None:
    with pytest.raises(CronError, match=message.replace("*", r"\*")):
        CronSchedule.parse(expr)


def test_timespan_schedules() -> None:
    s = parse_schedule("00:05:00")
    assert isinstance(s, IntervalSchedule) and s.interval == timedelta(minutes=5)
    assert s.next_after(T) == T + timedelta(minutes=5)
    assert parse_schedule("1.02:00:00").interval == timedelta(days=1, hours=2)  # type: ignore[union-attr]
    assert parse_schedule("01:30").interval == timedelta(hours=1, minutes=30)  # type: ignore[union-attr]
    for bad in ("00:00:00", "25:00:00", "00:61:00"):
        with pytest.raises(ScheduleError):
            parse_schedule(bad)


def test_schedule_from_an_app_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIGHTLY", "0 0 2 * * *")
    assert isinstance(parse_schedule("%NIGHTLY%"), CronSchedule)
    with pytest.raises(ScheduleError, match="names app setting MISSING_SETTING, which is not set"):
        parse_schedule("%MISSING_SETTING%")
    with pytest.raises(ScheduleError, match="is not a valid NCRONTAB expression: second field"):
        parse_schedule("61 * * * * *")


def test_host_time_zone_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEBSITE_TIME_ZONE", raising=False)
    monkeypatch.delenv("TZ", raising=False)
    assert host_time_zone() == UTC
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert host_time_zone() == ZoneInfo("Asia/Tokyo")
    monkeypatch.setenv("WEBSITE_TIME_ZONE", "W. Europe Standard Time")  # a Windows id; wins over TZ
    assert host_time_zone() == ZoneInfo("Europe/Berlin")
    monkeypatch.setenv("WEBSITE_TIME_ZONE", "Mars/Olympus")
    with pytest.raises(ScheduleError, match="WEBSITE_TIME_ZONE='Mars/Olympus' is not a time zone"):
        host_time_zone()
