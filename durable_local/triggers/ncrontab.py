"""NCRONTAB expressions, as the Functions timer trigger reads them, and their next occurrence.

Six fields, seconds first: ``{second} {minute} {hour} {day} {month} {day-of-week}``. A
five-field expression (classic cron, no seconds) is accepted too and fires at second 0, as
the NCrontab library does when told the expression has no seconds. Each field is ``*``, a
number, a range ``a-b``, a step ``*/n``, ``a-b/n`` or ``a/n`` (a to the field's maximum), or a
comma-separated list of those. Months accept ``JAN``..``DEC`` and days of the week
``SUN``..``SAT`` (0 = Sunday .. 6 = Saturday), case-insensitively.

As in NCrontab, a time matches when *every* field matches: a restricted day of the month
and a restricted day of the week must both hold (classic cron would take either).

Occurrences are computed in a time zone's wall-clock time: a local time that does not
exist (skipped by a daylight-saving change) is skipped; one that happens twice fires once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")

# (field name, lowest, highest, names for lowest.. or None)
_FIELDS: tuple[tuple[str, int, int, tuple[str, ...] | None], ...] = (
    ("second", 0, 59, None),
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day", 1, 31, None),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 6, _DAYS),
)
# a schedule that matches nothing within this many years never fires (e.g. "0 0 0 30 2 *")
_SEARCH_YEARS = 8


class CronError(ValueError):
    """A malformed expression; the message says which field and why."""


def _value(text: str, field: str, low: int, high: int, names: tuple[str, ...] | None) -> int:
    upper = text.upper()
    if names is not None and upper in names:
        return low + names.index(upper)
    if not text.isdigit():
        raise CronError(f"{field} field: '{text}' is not a number" + (" or a name" if names else ""))
    value = int(text)
    if not low <= value <= high:
        raise CronError(f"{field} field: {value} is outside {low}-{high}")
    return value


def _parse_field(text: str, field: str, low: int, high: int, names: tuple[str, ...] | None) -> frozenset[int]:
    allowed: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"{field} field: empty list item in '{text}'")
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{field} field: step '{step_text}' must be a positive number")
            step = int(step_text)
        if base in ("*", "?"):
            first, last = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            first, last = _value(a, field, low, high, names), _value(b, field, low, high, names)
            if first > last:
                raise CronError(f"{field} field: range '{base}' runs backwards")
        else:
            first = _value(base, field, low, high, names)
            last = high if slash else first  # "5/15": from 5 to the maximum, every 15
        allowed.update(range(first, last + 1, step))
    return frozenset(allowed)


@dataclass(frozen=True)
class CronSchedule:
    """A parsed NCRONTAB expression; ``next_after(t)`` is the first occurrence strictly after ``t``."""

    text: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    tz: tzinfo = timezone.utc

    @classmethod
    def parse(cls, text: str, tz: tzinfo = timezone.utc) -> CronSchedule:
        parts = text.split()
        if len(parts) == 5:
            parts = ["0", *parts]
        if len(parts) != 6:
            raise CronError(
                f"'{text}' has {len(parts)} fields; expected 6 "
                "({second} {minute} {hour} {day} {month} {day-of-week}) or 5 (no seconds)"
            )
        sets = [_parse_field(p, *spec) for p, spec in zip(parts, _FIELDS, strict=True)]
        return cls(
            text=text,
            seconds=tuple(sorted(sets[0])),
            minutes=tuple(sorted(sets[1])),
            hours=tuple(sorted(sets[2])),
            days=sets[3],
            months=sets[4],
            weekdays=sets[5],
            tz=tz,
        )

    def _day_matches(self, d: date) -> bool:
        return d.month in self.months and d.day in self.days and (d.isoweekday() % 7) in self.weekdays

    def _times(self, start: time | None) -> Iterator[time]:
        """The day's matching wall-clock times in order, from ``start`` (inclusive) on."""
        for h in self.hours:
            if start is not None and h < start.hour:
                continue
            same_hour = start is not None and h == start.hour
            for m in self.minutes:
                if same_hour and start is not None and m < start.minute:
                    continue
                same_minute = same_hour and start is not None and m == start.minute
                for s in self.seconds:
                    if same_minute and start is not None and s < start.second:
                        continue
                    yield time(h, m, s)

    def next_after(self, after: datetime) -> datetime | None:
        """The first occurrence strictly after ``after`` (aware; naive = UTC), as aware UTC;
        None if there is none within the next few years (a 30th of February)."""
        if after.tzinfo is None:
            after = after.replace(tzinfo=timezone.utc)
        after_utc = after.astimezone(timezone.utc)
        local = after_utc.astimezone(self.tz)
        day = local.date()
        for offset in range(366 * _SEARCH_YEARS):
            d = day + timedelta(days=offset)
            if not self._day_matches(d):
                continue
            for t in self._times(local.time() if offset == 0 else None):
                wall = datetime.combine(d, t)
                candidate = wall.replace(tzinfo=self.tz)
                utc = candidate.astimezone(timezone.utc)
                if utc.astimezone(self.tz).replace(tzinfo=None) != wall:
                    continue  # this wall time does not exist (daylight saving starts)
                if utc > after_utc:
                    return utc
        return None
