"""Periods: a quarter (``2026-Q3``) or a month (``2026-07``), with their first and last day."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

PeriodKind = Literal["quarter", "month"]

_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """A reporting period. Ordered by its first day; ``key`` is its canonical text form."""

    start: date
    end: date
    kind: PeriodKind
    key: str

    @classmethod
    def parse(cls, text: str) -> Period:
        text = text.strip()
        if m := _QUARTER.match(text):
            year, q = int(m.group(1)), int(m.group(2))
            return cls.quarter(year, q)
        if m := _MONTH.match(text):
            return cls.month(int(m.group(1)), int(m.group(2)))
        raise ValueError(f"{text!r} is not a period: use a quarter (2026-Q3) or a month (2026-07)")

    @classmethod
    def quarter(cls, year: int, q: int) -> Period:
        start = date(year, 3 * q - 2, 1)
        return cls(start, _last_day(year, 3 * q), "quarter", f"{year}-Q{q}")

    @classmethod
    def month(cls, year: int, m: int) -> Period:
        return cls(date(year, m, 1), _last_day(year, m), "month", f"{year}-{m:02d}")

    @classmethod
    def containing(cls, day: date, kind: PeriodKind) -> Period:
        if kind == "quarter":
            return cls.quarter(day.year, (day.month - 1) // 3 + 1)
        return cls.month(day.year, day.month)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end

    def next(self) -> Period:
        return Period.containing(self.end + timedelta(days=1), self.kind)

    def previous(self) -> Period:
        return Period.containing(self.start - timedelta(days=1), self.kind)

    def __str__(self) -> str:
        return self.key


def _last_day(year: int, month: int) -> date:
    first_next = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return first_next - timedelta(days=1)
