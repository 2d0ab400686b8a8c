"""The weighted score: scale × Σ wᵢ·fᵢ ÷ Σ wᵢ, with fᵢ = min(metricᵢ ÷ targetᵢ, 1), rounded half-up to two
decimals: the exact value's, so 39.995 is 40.00 even where 28-digit division makes it 39.99499…"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import ROUND_FLOOR, Decimal
from fractions import Fraction

from cosell import hookimpl
from cosell.context import PartnerFacts, RunContext
from cosell.money import round_score
from cosell.results import Score, ScorePart

ZERO = Decimal(0)
ONE = Decimal(1)
HALF = Decimal("0.5")
NEAR = Decimal("1e-12")
"""Hundredths this close to a half are rounded from the exact value (Decimal's error is about 1e-25)."""


def fraction(value: Decimal | None, target: Decimal, better: str) -> Decimal:
    """How far a metric reaches its target, between 0 and 1; an undefined metric reaches 0."""
    if value is None:
        return ZERO
    if better == "lower":
        reached = ONE if value <= 0 else target / value
    else:
        reached = value / target
    return max(ZERO, min(reached, ONE))


@hookimpl(tryfirst=True)
def cosell_score(partner: PartnerFacts, metrics: Mapping[str, Decimal | None], context: RunContext) -> Score:
    scoring = context.program.scoring
    if scoring is None or not scoring.metrics:
        return Score(ZERO)
    parts = tuple(
        ScorePart(
            name,
            metrics.get(name),
            t.target,
            t.weight,
            fraction(metrics.get(name), t.target, t.better),
            t.better,
        )
        for name, t in scoring.metrics.items()
    )
    total_weight = sum((p.weight for p in parts), ZERO)
    if total_weight == 0:
        return Score(ZERO, parts)
    return Score(_rounded(scoring.scale, parts, total_weight), parts)


def _rounded(scale: Decimal, parts: Sequence[ScorePart], total_weight: Decimal) -> Decimal:
    weighted = sum((p.weight * p.fraction for p in parts), ZERO)
    approx = scale * weighted / total_weight
    hundredths = approx * 100
    if abs(hundredths - hundredths.to_integral_value(ROUND_FLOOR) - HALF) > NEAR:
        return round_score(approx)
    exact = (
        Fraction(scale)
        * sum((Fraction(p.weight) * _exact_fraction(p.value, p.target, p.better) for p in parts), Fraction(0))
        / Fraction(total_weight)
    )
    return Decimal(math.floor(exact * 100 + Fraction(1, 2))).scaleb(-2)  # a score is never negative


def _exact_fraction(value: Decimal | None, target: Decimal, better: str) -> Fraction:
    """``fraction`` without rounding."""
    if value is None:
        return Fraction(0)
    if better == "lower":
        reached = Fraction(1) if value <= 0 else Fraction(target) / Fraction(value)
    else:
        reached = Fraction(value) / Fraction(target)
    return max(Fraction(0), min(reached, Fraction(1)))
