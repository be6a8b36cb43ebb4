"""Days the office is closed: Japanese public holidays plus a site's own closures.

Weekends are not closed days here; dayparts choose weekdays. Year-end days (12/29-1/3) are
closures each site enters, since cities differ.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import holidays


def public_holidays(first: date, last: date) -> dict[date, str]:
    """Japanese public holidays (including substitute holidays) from first to last, inclusive."""
    if last < first:
        return {}
    found = holidays.country_holidays("JP", years=range(first.year, last.year + 1))
    return {day: str(name) for day, name in sorted(found.items()) if first <= day <= last}


def closed_days(first: date, last: date, closures: Iterable[date] = ()) -> frozenset[date]:
    """Public holidays and the site's `closures` from first to last, inclusive."""
    own = {day for day in closures if first <= day <= last}
    return frozenset(public_holidays(first, last)) | own


def days_around(start: date, hours: int) -> tuple[date, date]:
    """Local dates a timeline of `hours` from `start` can touch (ranges start a day early)."""
    return start - timedelta(days=2), start + timedelta(days=hours // 24 + 2)
