"""The city's clock: times shown in the city's zone with the zone, business days from the calendar data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from protocol.citytime import UnknownCalendar, UnknownTimeZone, city_clock, load_calendar

TOKYO = city_clock("Asia/Tokyo", "japan")


def test_an_evening_in_utc_is_the_next_morning_in_kaga_and_says_so():
    evening = datetime(2026, 4, 1, 19, 30, tzinfo=UTC)
    assert TOKYO.show(evening) == "2026-04-02 04:30 JST"
    assert TOKYO.show("2026-04-01T19:30:00Z", seconds=True) == "2026-04-02 04:30:00 JST"
    assert TOKYO.show_date(evening) == "2026-04-02"
    assert TOKYO.iso(evening) == "2026-04-02T04:30:00+09:00"
    naive_from_the_database = datetime(2026, 4, 1, 19, 30)  # stored as UTC
    assert TOKYO.show(naive_from_the_database) == "2026-04-02 04:30 JST"


def test_a_time_without_a_zone_from_a_person_means_the_citys_time():
    assert TOKYO.aware(datetime(2026, 4, 1, 9, 0)).utcoffset() == timedelta(hours=9)
    assert TOKYO.aware(None) is None


def test_another_city_in_another_zone():
    honolulu = city_clock("Pacific/Honolulu", "japan")
    assert honolulu.show(datetime(2026, 4, 1, 19, 30, tzinfo=UTC)) == "2026-04-01 09:30 HST"


def test_the_zone_comes_from_the_environment_when_not_given(monkeypatch):
    monkeypatch.setenv("MACHI_CITY_TIMEZONE", "Europe/Berlin")
    assert city_clock().zone_name == "Europe/Berlin"
    monkeypatch.delenv("MACHI_CITY_TIMEZONE")
    assert city_clock().zone_name == "Asia/Tokyo"


def test_unknown_zone_and_calendar_are_refused_by_name():
    with pytest.raises(UnknownTimeZone, match="Mars/Olympus"):
        city_clock("Mars/Olympus")
    with pytest.raises(UnknownCalendar, match="atlantis"):
        load_calendar("atlantis")
    with pytest.raises(UnknownCalendar):
        load_calendar("../japan")


@pytest.mark.parametrize(("day", "name"), [
    ("2025-01-01", "元日"), ("2025-01-13", "成人の日"), ("2025-02-24", "休日（振替休日）"),  # Feb 23 was a Sunday
    ("2025-03-20", "春分の日"), ("2025-05-06", "休日（振替休日）"), ("2025-09-23", "秋分の日"),
    ("2025-11-24", "休日（振替休日）"), ("2026-05-06", "休日（振替休日）"),  # May 3 2026 was a Sunday
    ("2026-09-22", "休日（国民の休日）"),  # between Respect for the Aged Day and the equinox
    ("2027-03-21", "春分の日"), ("2028-07-17", "海の日"), ("2029-04-30", "休日（振替休日）"),
    ("2030-09-23", "秋分の日"), ("2031-10-13", "スポーツの日"),
])
def test_japanese_public_holidays_with_substitutes(day, name):
    calendar = load_calendar("japan")
    assert calendar.holiday(date.fromisoformat(day))["ja"] == name
    assert not calendar.is_business_day(date.fromisoformat(day))


def test_every_year_2025_to_2031_has_its_sixteen_holidays_or_more():
    calendar = load_calendar("japan")
    for year in range(2025, 2032):
        named = [d for d in calendar.holidays if d.year == year and "振替" not in calendar.holidays[d]["ja"]
                 and "国民" not in calendar.holidays[d]["ja"]]
        assert len(named) == 16, year


def test_the_new_year_closure_is_no_business_day():
    calendar = load_calendar("japan")
    for day in ("2026-12-28", "2027-01-04"):
        assert calendar.is_business_day(date.fromisoformat(day)), day
    for day in ("2026-12-29", "2026-12-30", "2026-12-31", "2027-01-02", "2027-01-03"):
        assert not calendar.is_business_day(date.fromisoformat(day)), day


def test_deadlines_count_business_days_and_end_at_the_end_of_the_citys_day():
    # Friday 2026-12-25 15:00 UTC is Saturday the 26th in Kaga; then the weekend, the 28th
    # (Monday) counts, the closure Dec 29 – Jan 3 does not: the 2nd business day is Jan 4.
    start = datetime(2026, 12, 25, 15, 0, tzinfo=UTC)
    assert TOKYO.business_days_after(start, 1) == date(2026, 12, 28)
    assert TOKYO.business_days_after(start, 2) == date(2027, 1, 4)
    due = TOKYO.due_after(start, 2)
    assert (due.isoformat(), TOKYO.show(due)) == ("2027-01-04T23:59:59+09:00", "2027-01-04 23:59 JST")
    # Golden Week 2026: Apr 29 (Wed), May 4–6 (Mon–Wed) are holidays.
    assert TOKYO.business_days_after(date(2026, 4, 28), 1) == date(2026, 4, 30)
    assert TOKYO.business_days_after(date(2026, 5, 1), 1) == date(2026, 5, 7)
    assert TOKYO.business_days_after(date(2026, 5, 3), 0) == date(2026, 5, 7)
