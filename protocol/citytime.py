"""The city's time: the zone every time a person sees is shown in, and the business days deadlines count.

A time stored or sent between programs is an instant (UTC in the database, ISO 8601 with an offset
on the wire); a time shown to a person — the clerk's console, the resident's wallet, CSV files,
receipts — is in the city's time zone with the zone written next to it (``2026-04-01 09:30 JST``).
A date without a zone (a form field, a query parameter, a bank's transfer date) means the city's
date. Deadlines count the city's business days: not a weekend, not a public holiday, not a day
the city office is closed (the New Year closure), from a calendar kept as data in
``protocol/calendars/<name>.json``.

The service takes the zone and the calendar from its settings (``MACHI_CITY_TIMEZONE``,
``MACHI_CITY_CALENDAR``); the wallet, which has no server settings, reads the same environment
variables. Both default to Kaga: ``Asia/Tokyo`` and ``japan``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "CALENDAR_VARIABLE", "DEFAULT_CALENDAR", "DEFAULT_ZONE", "ZONE_VARIABLE", "Calendar", "CityClock",
    "UnknownCalendar", "UnknownTimeZone", "city_clock", "load_calendar",
]

ZONE_VARIABLE = "MACHI_CITY_TIMEZONE"
CALENDAR_VARIABLE = "MACHI_CITY_CALENDAR"
DEFAULT_ZONE = "Asia/Tokyo"
DEFAULT_CALENDAR = "japan"
CALENDARS = Path(__file__).resolve().parent / "calendars"


class UnknownTimeZone(ValueError):
    """The city's time zone is not an IANA zone this machine knows (a setting's mistake, found at start-up)."""


class UnknownCalendar(ValueError):
    """No holiday calendar of that name under ``protocol/calendars``."""


@dataclass(frozen=True)
class Calendar:
    """The days the city office works: weekdays that are neither holidays nor closure days.

    Attributes:
        name: the calendar's file name (``japan``).
        holidays: public holidays by date, each with its name by language.
        closures: yearly closures as ((from month, from day), (to month, to day)), possibly across
            the new year (Dec 29 – Jan 3).
        weekend: ``date.weekday()`` numbers that are never business days (5, 6 = Saturday, Sunday).
        first_year, last_year: the years whose holidays the file lists; outside them only weekends
            and closures count (the file must be extended in time).
    """

    name: str
    holidays: dict[date, dict[str, str]]
    closures: tuple[tuple[tuple[int, int], tuple[int, int]], ...]
    weekend: frozenset[int]
    first_year: int
    last_year: int

    def holiday(self, day: date) -> dict[str, str] | None:
        """The public holiday on ``day`` (its names by language), or None."""
        return self.holidays.get(day)

    def closed(self, day: date) -> bool:
        """True on a closure day of the city office (e.g. the New Year closure)."""
        key = (day.month, day.day)
        for start, end in self.closures:
            inside = start <= key <= end if start <= end else key >= start or key <= end
            if inside:
                return True
        return False

    def is_business_day(self, day: date) -> bool:
        """True if the city office works on ``day``."""
        return day.weekday() not in self.weekend and day not in self.holidays and not self.closed(day)

    def next_business_day(self, day: date) -> date:
        """``day`` itself if the office works then, else the first business day after it."""
        while not self.is_business_day(day):
            day += timedelta(days=1)
        return day

    def add_business_days(self, day: date, count: int) -> date:
        """The ``count``-th business day after ``day`` (``day`` itself is not counted; count ≥ 0).

        With ``count`` 0: ``day`` if it is a business day, else the next one.
        """
        if count < 0:
            raise ValueError("count must be zero or more")
        if count == 0:
            return self.next_business_day(day)
        while count:
            day += timedelta(days=1)
            if self.is_business_day(day):
                count -= 1
        return day


@lru_cache(maxsize=8)
def load_calendar(name: str = DEFAULT_CALENDAR) -> Calendar:
    """The calendar ``protocol/calendars/<name>.json``.

    Raises:
        UnknownCalendar: no such file (or a name that is not a plain file name).
    """
    path = CALENDARS / f"{name}.json"
    if not name.replace("-", "").replace("_", "").isalnum() or not path.is_file():
        known = sorted(p.stem for p in CALENDARS.glob("*.json"))
        raise UnknownCalendar(f"no holiday calendar {name!r} (known: {', '.join(known)})")
    data = json.loads(path.read_text(encoding="utf-8"))

    def month_day(text: str) -> tuple[int, int]:
        month, day = text.split("-")
        return int(month), int(day)

    return Calendar(
        name=name,
        holidays={date.fromisoformat(day): dict(names) for day, names in data["holidays"].items()},
        closures=tuple((month_day(c["from"]), month_day(c["to"])) for c in data.get("closures", [])),
        weekend=frozenset(data.get("weekend", [5, 6])),
        first_year=int(data["first_year"]), last_year=int(data["last_year"]),
    )


@dataclass(frozen=True)
class CityClock:
    """The city's zone and calendar: what people are shown and how deadlines count."""

    zone: ZoneInfo
    calendar: Calendar

    # ------------------------------------------------------------------ instants
    @overload
    def aware(self, value: datetime) -> datetime: ...
    @overload
    def aware(self, value: None) -> None: ...
    def aware(self, value: datetime | None) -> datetime | None:
        """``value`` with a zone: a time given without one (query parameter, form) is the city's time."""
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=self.zone)
        return value

    def now(self) -> datetime:
        """Now, in the city."""
        return datetime.now(self.zone)

    def today(self) -> date:
        """The city's date today."""
        return self.now().date()

    def local(self, value: datetime) -> datetime:
        """``value`` in the city's zone (a time without a zone is taken as UTC, as the database stores it)."""
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(self.zone)

    def parse(self, text: str) -> datetime:
        """An ISO 8601 time from the wire (``Z`` or an offset; none = the city's time), in the city's zone."""
        return self.local(self.aware(datetime.fromisoformat(text.replace("Z", "+00:00"))))

    def local_date(self, value: datetime | date) -> date:
        """The city's date of an instant (a date stays as it is)."""
        return self.local(value).date() if isinstance(value, datetime) else value

    # ------------------------------------------------------------------ what people see
    def show(self, value: datetime | str | None, seconds: bool = False) -> str:
        """``2026-04-01 09:30 JST``: the time in the city's zone with the zone's abbreviation."""
        if value is None:
            return ""
        moment = self.parse(value) if isinstance(value, str) else self.local(value)
        text = moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
        return f"{text} {moment.tzname()}"

    def show_date(self, value: datetime | date | str | None) -> str:
        """``2026-04-01``: the city's date of an instant (or the date itself)."""
        if value is None:
            return ""
        if isinstance(value, str):
            value = self.parse(value) if "T" in value or " " in value else date.fromisoformat(value)
        return self.local_date(value).isoformat()

    def iso(self, value: datetime | str) -> str:
        """ISO 8601 in the city's zone with its offset (``2026-04-01T09:30:00+09:00``), for CSV files."""
        moment = self.parse(value) if isinstance(value, str) else self.local(value)
        return moment.isoformat(timespec="seconds")

    @property
    def zone_name(self) -> str:
        """The IANA name of the zone (``Asia/Tokyo``)."""
        return self.zone.key

    # ------------------------------------------------------------------ deadlines
    def end_of_day(self, day: date) -> datetime:
        """The last moment of the city's ``day`` (23:59:59), as an aware time."""
        return datetime.combine(day, time(23, 59, 59), tzinfo=self.zone)

    def start_of_day(self, day: date) -> datetime:
        """The first moment of the city's ``day`` (00:00), as an aware time."""
        return datetime.combine(day, time.min, tzinfo=self.zone)

    def business_days_after(self, start: datetime | date, count: int) -> date:
        """The city's ``count``-th business day after the city's date of ``start``."""
        return self.calendar.add_business_days(self.local_date(start), count)

    def due_after(self, start: datetime, count: int) -> datetime:
        """A deadline ``count`` business days after ``start``: the end of that business day, city time."""
        return self.end_of_day(self.business_days_after(start, count))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimeZone(f"unknown time zone {name!r} (an IANA name such as Asia/Tokyo)") from None


@lru_cache(maxsize=16)
def _clock(zone: str, calendar: str) -> CityClock:
    return CityClock(_zone(zone), load_calendar(calendar))


def city_clock(zone: str | None = None, calendar: str | None = None) -> CityClock:
    """The clock of the city: ``zone`` and ``calendar`` as given, else from the environment
    (``MACHI_CITY_TIMEZONE``, ``MACHI_CITY_CALENDAR``), else Asia/Tokyo and Japan's calendar.

    Raises:
        UnknownTimeZone, UnknownCalendar: a name this machine does not know.
    """
    return _clock(zone or os.environ.get(ZONE_VARIABLE) or DEFAULT_ZONE,
                  calendar or os.environ.get(CALENDAR_VARIABLE) or DEFAULT_CALENDAR)
