"""``cosell pilot report``: each pilot's arms compared per period and over all its periods, from what
the runs recorded in the ledger (``cosell.pilots``).

Per arm: partners, sourced pipeline and qualified opportunities per partner, the joint win rate (won ÷
won and lost, over the arm's partners together), the median days to win, the incentive cost per
partner and per dollar of won revenue and of won margin. The difference (test − control) of each comes
with a 90 % percentile-bootstrap interval: the partners of each arm are drawn again with replacement
``RESAMPLES`` times from a generator seeded with the pilot's name and the period, so the same ledger
always gives the same report. Below ``MIN_PARTNERS`` partners in either arm the report says the sample
is too small to conclude instead of reading the interval.
"""

from __future__ import annotations

import json
import operator
import random
import sys
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import chain, repeat
from typing import Any

from .merges import following
from .pilots import CONTROL, TEST, recorded_pilots

RESAMPLES = 2000
"""Bootstrap resamples per comparison."""
CONFIDENCE = Decimal("0.90")
MIN_PARTNERS = 10
"""Partners each arm needs before the report reads an interval (fewer: too small to conclude)."""
ALL_PERIODS = "all periods"


@dataclass(frozen=True, slots=True)
class Unit:
    """One partner in one arm, over the periods compared: sums of its recorded facts."""

    periods: int
    pipeline: Decimal
    qualified: Decimal
    won: Decimal
    lost: Decimal
    revenue: Decimal
    margin: Decimal
    cost: Decimal
    days: tuple[int, ...]


SUMMED = ("periods", "pipeline", "qualified", "won", "lost", "revenue", "margin", "cost")


@dataclass(frozen=True, slots=True)
class Totals:
    """An arm's units added up (exact Decimals for the report, floats inside the bootstrap)."""

    sums: Mapping[str, Any]
    days: Sequence[int]

    @classmethod
    def of(cls, units: Sequence[Unit]) -> Totals:
        sums = {field: sum((getattr(u, field) for u in units), Decimal(0)) for field in SUMMED}
        return cls(sums, [d for u in units for d in u.days])


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    label: str
    places: int
    measure: Callable[[Totals], Any]


def _ratio(top: Any, bottom: Any) -> Any:
    return top / bottom if bottom else None


def _per_partner(field: str) -> Callable[[Totals], Any]:
    """Per partner and period: a partner in the report for three periods counts three times."""
    return lambda t: _ratio(t.sums[field], t.sums["periods"])


def _median_days(totals: Totals) -> Decimal | None:
    days = sorted(totals.days)
    if not days:
        return None
    mid = len(days) // 2
    return Decimal(days[mid]) if len(days) % 2 else (Decimal(days[mid - 1]) + Decimal(days[mid])) / 2


METRICS = (
    Metric("sourced_pipeline_per_partner", "Sourced pipeline per partner", 2, _per_partner("pipeline")),
    Metric("qualified_per_partner", "Qualified opportunities per partner", 2, _per_partner("qualified")),
    Metric(
        "joint_win_rate", "Joint win rate", 4, lambda t: _ratio(t.sums["won"], t.sums["won"] + t.sums["lost"])
    ),
    Metric("median_velocity_days", "Median days to win", 1, _median_days),
    Metric("cost_per_partner", "Incentive cost per partner", 2, _per_partner("cost")),
    Metric(
        "cost_per_won_revenue",
        "Cost per dollar of won revenue",
        4,
        lambda t: _ratio(t.sums["cost"], t.sums["revenue"]),
    ),
    Metric(
        "cost_per_won_margin",
        "Cost per dollar of won margin",
        4,
        lambda t: _ratio(t.sums["cost"], t.sums["margin"]),
    ),
)


_WORD = next(code for code in "IL" if array(code).itemsize == 4)


class _Resampler:
    """An arm's units as float columns, added up for a draw of unit indices at C speed."""

    def __init__(self, units: Sequence[Unit]) -> None:
        self.size = len(units)
        self.columns = {field: [float(getattr(u, field)) for u in units] for field in SUMMED}
        self.days = [u.days for u in units]

    def totals(self, rng: random.Random) -> Totals:
        # n draws from 32-bit random words modulo n (a bias below n / 2^32), little-endian on every machine
        words = array(_WORD, rng.randbytes(4 * self.size))
        if sys.byteorder == "big":
            words.byteswap()
        drawn = list(map(operator.mod, words, repeat(self.size)))
        sums = {field: sum(map(column.__getitem__, drawn)) for field, column in self.columns.items()}
        return Totals(sums, list(chain.from_iterable(map(self.days.__getitem__, drawn))))


@dataclass(frozen=True, slots=True)
class Difference:
    metric: Metric
    test: Decimal | None
    control: Decimal | None
    low: Decimal | None
    high: Decimal | None
    conclusion: str

    @property
    def value(self) -> Decimal | None:
        return None if self.test is None or self.control is None else self.test - self.control


@dataclass(frozen=True, slots=True)
class Comparison:
    """The arms of one pilot in one period (or over all of them)."""

    period: str
    partners: Mapping[str, int]
    differences: tuple[Difference, ...]
    verdict: str


@dataclass(frozen=True, slots=True)
class PilotReport:
    name: str
    variant: str
    periods: tuple[Comparison, ...]
    overall: Comparison | None


def report(ledger: Any, name: str | None = None) -> list[PilotReport]:
    """Every pilot the ledger recorded (only ``name``, if given), oldest period first."""
    by_pilot: dict[str, list[tuple[str, Mapping[str, Mapping[str, Any]]]]] = {}
    for period, pilot, parts in recorded_pilots(ledger):
        if name is None or pilot == name:
            by_pilot.setdefault(pilot, []).append((period, parts))
    variants = _variants(ledger)
    reports = []
    for pilot, periods in by_pilot.items():
        comparisons = tuple(compare(pilot, period, _units([parts])) for period, parts in periods)
        overall = (
            compare(pilot, ALL_PERIODS, _units([parts for _, parts in periods])) if len(periods) > 1 else None
        )
        reports.append(PilotReport(pilot, variants.get(pilot, ""), comparisons, overall))
    return reports


def _variants(ledger: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for period, _status in ledger.periods():
        stored = ledger.statement_data(period)
        part = json.loads(stored[0]).get("pilot") if stored else None
        if isinstance(part, dict):
            found[part["name"]] = part["variant"]
    return found


def _units(periods: Iterable[Mapping[str, Mapping[str, Any]]]) -> dict[str, list[Unit]]:
    """Each arm's partners over the given periods (in period order): a partner's facts summed per arm it
    was in (under the id it has last: a partner a CRM merge gave a new id is one partner; one whose
    merge was undone, a partner of its own again in a later period, is not folded into the other)."""
    periods = list(periods)
    into: dict[str, str] = {}
    merged_until: dict[str, int] = {}
    own_until: dict[str, int] = {}
    for index, parts in enumerate(periods):
        for pid, part in parts.items():
            own_until[pid] = index
            for former in part.get("former_ids", ()):
                into[former], merged_until[former] = pid, index
    current = following(
        {former: pid for former, pid in into.items() if own_until.get(former, -1) < merged_until[former]}
    )
    sums: dict[tuple[str, str], Unit] = {}
    for parts in periods:
        for pid, part in parts.items():
            facts = part["facts"]
            unit = Unit(
                1,
                Decimal(facts["sourced_pipeline"]),
                Decimal(facts["qualified"]),
                Decimal(facts["won"]),
                Decimal(facts["lost"]),
                Decimal(facts["won_revenue"]),
                Decimal(facts["won_margin"]),
                Decimal(facts["cost"]),
                tuple(facts["days_to_win"]),
            )
            key = (part["arm"], current(pid))
            sums[key] = _plus(sums[key], unit) if key in sums else unit
    arms: dict[str, list[Unit]] = {TEST: [], CONTROL: []}
    for (arm, _pid), unit in sorted(sums.items()):
        arms.setdefault(arm, []).append(unit)
    return arms


def _plus(a: Unit, b: Unit) -> Unit:
    return Unit(
        a.periods + b.periods,
        a.pipeline + b.pipeline,
        a.qualified + b.qualified,
        a.won + b.won,
        a.lost + b.lost,
        a.revenue + b.revenue,
        a.margin + b.margin,
        a.cost + b.cost,
        a.days + b.days,
    )


def compare(name: str, period: str, arms: Mapping[str, Sequence[Unit]]) -> Comparison:
    test, control = arms.get(TEST, []), arms.get(CONTROL, [])
    sizes: dict[str, int] = {TEST: len(test), CONTROL: len(control)}
    small = min(sizes.values()) < MIN_PARTNERS
    intervals = _bootstrap(f"{name}:{period}", test, control) if test and control else {}
    exact = {TEST: Totals.of(test), CONTROL: Totals.of(control)}
    differences = []
    for metric in METRICS:
        low, high = intervals.get(metric.key, (None, None))
        t, c = _exact(metric.measure(exact[TEST])), _exact(metric.measure(exact[CONTROL]))
        differences.append(Difference(metric, t, c, low, high, _conclusion(small, t, c, low, high)))
    return Comparison(period, sizes, tuple(differences), _verdict(sizes, small, differences))


def _exact(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def _bootstrap(
    seed: str, test: Sequence[Unit], control: Sequence[Unit]
) -> dict[str, tuple[Decimal, Decimal]]:
    """The 90 % percentile interval of each metric's difference, test − control."""
    rng = random.Random(seed)
    arms = _Resampler(test), _Resampler(control)
    draws: dict[str, list[float]] = {m.key: [] for m in METRICS}
    for _ in range(RESAMPLES):
        t, c = arms[0].totals(rng), arms[1].totals(rng)
        for metric in METRICS:
            a, b = metric.measure(t), metric.measure(c)
            if a is not None and b is not None:
                draws[metric.key].append(float(a) - float(b))
    tail = (1 - float(CONFIDENCE)) / 2
    out = {}
    for key, values in draws.items():
        if values:
            values.sort()
            last = len(values) - 1
            low, high = values[round(tail * last)], values[round((1 - tail) * last)]
            out[key] = (Decimal(repr(low)), Decimal(repr(high)))
    return out


HIGHER, LOWER, OPEN = "test higher", "test lower", "includes 0: no conclusion"
TOO_SMALL, NOT_MEASURED = "sample too small to conclude", "not measurable"


def _conclusion(
    small: bool, test: Decimal | None, control: Decimal | None, low: Decimal | None, high: Decimal | None
) -> str:
    if test is None or control is None or low is None or high is None:
        return NOT_MEASURED
    if small:
        return TOO_SMALL
    if low > 0:
        return HIGHER
    if high < 0:
        return LOWER
    return OPEN


def _verdict(sizes: Mapping[str, int], small: bool, differences: Sequence[Difference]) -> str:
    if small:
        return (
            f"The sample is too small to conclude: {sizes[TEST]} partner(s) in the test arm and "
            f"{sizes[CONTROL]} in the control arm; at least {MIN_PARTNERS} in each arm are needed."
        )
    found = [
        f"{d.metric.label.lower()} {'higher' if d.conclusion == HIGHER else 'lower'} by "
        f"{shown(None if d.value is None else abs(d.value), d.metric.places)} (90 % interval "
        f"{shown(d.low, d.metric.places, sign=True)} to {shown(d.high, d.metric.places, sign=True)})"
        for d in differences
        if d.conclusion in (HIGHER, LOWER)
    ]
    if not found:
        return "No difference between the arms can be concluded at 90 %: every interval includes 0."
    return "In the test arm: " + "; ".join(found) + "."


def shown(value: Decimal | None, places: int, *, sign: bool = False) -> str:
    if value is None:
        return "n/a"
    text = f"{value:,.{places}f}"
    return f"+{text}" if sign and value > 0 else text


def as_json(reports: Sequence[PilotReport]) -> dict[str, Any]:
    return {"pilots": [_pilot_doc(r) for r in reports]}


def _pilot_doc(r: PilotReport) -> dict[str, Any]:
    return {
        "name": r.name,
        "variant": r.variant,
        "periods": [_comparison_doc(c) for c in r.periods],
        "all_periods": None if r.overall is None else _comparison_doc(r.overall),
    }


def _comparison_doc(c: Comparison) -> dict[str, Any]:
    def number(value: Decimal | None, places: int) -> str | None:
        return None if value is None else f"{value:.{places}f}"

    arms: dict[str, dict[str, Any]] = {arm: {"partners": c.partners[arm]} for arm in (TEST, CONTROL)}
    for d in c.differences:
        arms[TEST][d.metric.key] = number(d.test, d.metric.places)
        arms[CONTROL][d.metric.key] = number(d.control, d.metric.places)
    return {
        "period": c.period,
        "arms": arms,
        "differences": [
            {
                "metric": d.metric.key,
                "difference": number(d.value, d.metric.places),
                "interval": [number(d.low, d.metric.places), number(d.high, d.metric.places)],
                "n_test": c.partners[TEST],
                "n_control": c.partners[CONTROL],
                "conclusion": d.conclusion,
            }
            for d in c.differences
        ],
        "verdict": c.verdict,
    }
