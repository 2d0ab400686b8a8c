"""The weighted score: scale × Σ wᵢ·fᵢ ÷ Σ wᵢ, with fᵢ = min(metricᵢ ÷ targetᵢ, 1)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from cosell import hookimpl
from cosell.context import PartnerFacts, RunContext
from cosell.money import round_score
from cosell.results import Score, ScorePart

ZERO = Decimal(0)
ONE = Decimal(1)


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
    weighted = sum((p.weight * p.fraction for p in parts), ZERO)
    return Score(round_score(scoring.scale * weighted / total_weight), parts)
