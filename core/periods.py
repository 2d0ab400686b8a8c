"""Periods: a quarter (``2026-Q3``) or a month (``2026-07``), with their first and last day."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Literal

PeriodKind = Literal["quarter", "month"]

# [0-9], not \d: \d matches any Unicode digit, and int() would read it.
_QUARTER = re.compile(r"^([0-9]{4})-Q([1-4])$")
_MONTH = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")
FIRST_YEAR, LAST_YEAR = 1900, 2999
"""The years a period may be in: four digits, and room on either side for the periods around it."""


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """A reporting period. Ordered by its first day; ``key`` is its canonical text form."""

    start: date
    """The period's first day."""
    end: date
    """The period's last day (bounds are inclusive)."""
    kind: PeriodKind
    """``quarter`` or ``month``."""
    key: str
    """The canonical text, e.g. ``2026-Q3`` or ``2026-07``."""

    @classmethod
    def parse(cls, text: str) -> Period:
        text = text.strip()
        m = _QUARTER.match(text) or _MONTH.match(text)
        if m is None:
            if _QUARTER.match(text.upper()):  # 2026-q3: keys are written one way only, so it is not guessed
                raise ValueError(f"{text!r} is not a period: write it {text.upper()}")
            raise ValueError(f"{text!r} is not a period: use a quarter (2026-Q3) or a month (2026-07)")
        year = int(m.group(1))
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise ValueError(f"{text!r} is not a period: the year must be from {FIRST_YEAR} to {LAST_YEAR}")
        if m.re is _QUARTER:
            return cls.quarter(year, int(m.group(2)))
        return cls.month(year, int(m.group(2)))

    @classmethod
    def quarter(cls, year: int, q: int) -> Period:
        start = date(year, 3 * q - 2, 1)
        return cls(start, _last_day(year, 3 * q), "quarter", f"{year}-Q{q}")

    @classmethod
    def month(cls, year: int, m: int) -> Period:
        return cls(date(year, m, 1), _last_day(year, m), "month", f"{year}-{m:02d}")

    @classmethod
    def containing(cls, day: date, kind: PeriodKind) -> Period:
        return _containing(day, kind)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end

    def next(self) -> Period:
        return Period.containing(self.end + timedelta(days=1), self.kind)

    def previous(self) -> Period:
        return Period.containing(self.start - timedelta(days=1), self.kind)

    def __str__(self) -> str:
        return self.key


@lru_cache(maxsize=1 << 16)
def _containing(day: date, kind: PeriodKind) -> Period:
    # Rules ask this of every won deal's date, a partner's joined_on, a closed period's days: 140,000
    # times in a run of 300,000 deals, for a few thousand distinct days. Built once per day, a Period
    # (frozen) is shared: that saves about 6% of the compute step.
    if kind == "quarter":
        return Period.quarter(day.year, (day.month - 1) // 3 + 1)
    return Period.month(day.year, day.month)


def _last_day(year: int, month: int) -> date:
    first_next = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return first_next - timedelta(days=1)


def days_after(day: date, days: int) -> date:
    """``day`` + ``days``; the calendar's last day when that is past it (a record dated 9999-12-20 with
    a 60-day window: the window reaches past every date a record can hold)."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max
