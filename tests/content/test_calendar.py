"""Closed days: Japanese public holidays plus a site's own closures, and nothing else."""

from __future__ import annotations

from datetime import date, timedelta

from content.calendar import closed_days, days_around, public_holidays


def test_closed_days_are_holidays_and_closures_only() -> None:
    closures = [date(2026, 12, 29), date(2026, 12, 30), date(2027, 6, 1)]  # the last: outside

    days = closed_days(date(2026, 11, 1), date(2027, 1, 15), closures)

    assert days == {
        date(2026, 11, 3),  # Culture Day
        date(2026, 11, 23),  # Labour Thanksgiving Day (a Monday)
        date(2026, 12, 29),
        date(2026, 12, 30),
        date(2027, 1, 1),  # New Year's Day
        date(2027, 1, 11),  # Coming of Age Day
    }


def test_substitute_holiday_and_silver_week_are_closed() -> None:
    days = closed_days(date(2026, 5, 1), date(2026, 9, 30))

    assert date(2026, 5, 6) in days  # Constitution Day fell on a Sunday
    assert {date(2026, 9, 21), date(2026, 9, 22), date(2026, 9, 23)} <= days
    assert date(2026, 5, 7) not in days
    assert date(2026, 5, 9) not in days  # weekends are not closed days here


def test_public_holidays_have_names_and_stay_in_range() -> None:
    found = public_holidays(date(2026, 11, 4), date(2026, 11, 30))

    assert found == {date(2026, 11, 23): "Labor Thanksgiving Day"}
    assert public_holidays(date(2026, 2, 1), date(2026, 1, 1)) == {}


def test_days_around_covers_a_timeline() -> None:
    first, last = days_around(date(2026, 11, 22), 48)

    assert first <= date(2026, 11, 22) - timedelta(days=2)
    assert last >= date(2026, 11, 25)
