"""A timer trigger's ``schedule``: NCRONTAB or TimeSpan, in the host's time zone.

* ``"0 */5 * * * *"`` — NCRONTAB (see ncrontab.py);
* ``"00:05:00"`` / ``"1.00:00:00"`` — a TimeSpan (``[d.]hh:mm[:ss]``): every interval,
  counted from the last firing (or from start-up), as the host's constant schedule does;
* ``"%SETTING%"`` — the schedule is read from that app setting.

NCRONTAB runs in UTC unless ``WEBSITE_TIME_ZONE`` (or else ``TZ``) names a time zone: an IANA
name (``Europe/Berlin``, as on Linux plans) or one of a few common Windows ids
(``W. Europe Standard Time``, as on Windows plans; the full Windows list is not mapped).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .ncrontab import CronError, CronSchedule

# the Windows time zone ids most apps use, to their IANA equivalents
_WINDOWS_ZONES = {
    "utc": "UTC",
    "gmt standard time": "Europe/London",
    "w. europe standard time": "Europe/Berlin",
    "romance standard time": "Europe/Paris",
    "central europe standard time": "Europe/Budapest",
    "central european standard time": "Europe/Warsaw",
    "e. europe standard time": "Europe/Chisinau",
    "eastern standard time": "America/New_York",
    "central standard time": "America/Chicago",
    "mountain standard time": "America/Denver",
    "pacific standard time": "America/Los_Angeles",
    "india standard time": "Asia/Kolkata",
    "china standard time": "Asia/Shanghai",
    "tokyo standard time": "Asia/Tokyo",
    "aus eastern standard time": "Australia/Sydney",
}
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?$")
_SETTING = re.compile(r"^%([^%]+)%$")


class ScheduleError(ValueError):
    """The schedule or the time zone cannot be used; the message names the setting."""


@dataclass(frozen=True)
class IntervalSchedule:
    """A TimeSpan schedule: the next occurrence is one interval after the given time."""

    text: str
    interval: timedelta

    def next_after(self, after: datetime) -> datetime | None:
        return after.astimezone(timezone.utc) + self.interval


Schedule = CronSchedule | IntervalSchedule


def host_time_zone() -> tzinfo:
    """``WEBSITE_TIME_ZONE``, else ``TZ``, else UTC."""
    for setting in ("WEBSITE_TIME_ZONE", "TZ"):
        name = (os.environ.get(setting) or "").strip().lstrip(":")
        if not name:
            continue
        iana = _WINDOWS_ZONES.get(name.lower(), name)
        try:
            return ZoneInfo(iana)
        except (ZoneInfoNotFoundError, ValueError):
            raise ScheduleError(
                f"{setting}='{name}' is not a time zone this host knows (use an IANA name such as Europe/Berlin)"
            ) from None
    return timezone.utc


def parse_schedule(text: str, tz: tzinfo | None = None) -> Schedule:
    """Parse a timer trigger's schedule (after ``%SETTING%`` resolution); raise ScheduleError."""
    raw = text.strip()
    shown = f"'{raw}'"
    ref = _SETTING.match(raw)
    if ref:
        value = os.environ.get(ref.group(1))
        if not value:
            raise ScheduleError(f"schedule '{raw}' names app setting {ref.group(1)}, which is not set")
        raw = value.strip()
        shown = f"'{raw}' (app setting {ref.group(1)})"
    span = _TIMESPAN.match(raw)
    if span:
        days, hours, minutes, seconds = (int(g) if g else 0 for g in span.groups())
        if hours > 23 or minutes > 59 or seconds > 59:
            raise ScheduleError(f"schedule {shown} is not a valid TimeSpan ([d.]hh:mm[:ss])")
        interval = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        if interval <= timedelta(0):
            raise ScheduleError(f"schedule {shown}: a TimeSpan schedule must be longer than zero")
        return IntervalSchedule(raw, interval)
    try:
        return CronSchedule.parse(raw, tz if tz is not None else host_time_zone())
    except CronError as exc:
        raise ScheduleError(f"schedule {shown} is not a valid NCRONTAB expression: {exc}") from None
