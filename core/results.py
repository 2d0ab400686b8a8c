"""What the engine computes: metric values, scores, tier decisions and payout lines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class MetricDefinition:
    """A metric a plugin provides: its name as the program's ``scoring`` and ``requires`` use it."""

    name: str
    description: str
    money: bool = False


@dataclass(frozen=True, slots=True)
class ScorePart:
    """One metric's contribution: f = min(value ÷ target, 1) (or target ÷ value when lower is better)."""

    metric: str
    value: Decimal | None
    target: Decimal
    weight: Decimal
    fraction: Decimal
    better: str = "higher"


@dataclass(frozen=True, slots=True)
class Score:
    value: Decimal
    parts: tuple[ScorePart, ...] = ()


@dataclass(frozen=True, slots=True)
class TierDecision:
    """The tier a partner is eligible for this period and the one it is assigned, with the reason."""

    eligible: str
    assigned: str
    previous: str | None
    periods_below: int
    reason: str


@dataclass(frozen=True, slots=True)
class PartnerStanding:
    """A partner's metrics, score and tier for the period: what payout rules read."""

    partner_id: str
    metrics: Mapping[str, Decimal | None]
    score: Score
    tier: TierDecision
    name: str = ""
    """The partner's name when the standing was computed (statements show it)."""


@dataclass(frozen=True, slots=True)
class PayoutLine:
    """One computed line of a partner's statement. ``amount`` is in the program currency, rounded to
    cents. ``withheld`` marks a line of 0 kept for its reason; ``uncapped`` lines stay outside caps.
    ``tags`` carry facts later rules read (``margin_floor`` on a commission line, say)."""

    partner_id: str
    kind: str
    amount: Decimal
    explanation: str
    deal_id: str | None = None
    withheld: bool = False
    uncapped: bool = False
    tags: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Projection:
    """What an open deal would pay one partner if won on the period's last day (written back, never paid)."""

    partner_id: str
    deal_id: str
    amount: Decimal
    explanation: str
    withheld: bool = False


@dataclass(frozen=True, slots=True)
class LedgerLine:
    """A payout line as the ledger holds it, with its period."""

    period: str
    partner_id: str
    kind: str
    amount: Decimal
    explanation: str
    deal_id: str | None = None
    withheld: bool = False
    uncapped: bool = False
    tags: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class TierRecord:
    """A partner's tier history entry for one period."""

    period: str
    score: Decimal
    eligible: str
    assigned: str


def frozen_mapping(values: Mapping[str, Decimal | None]) -> Mapping[str, Decimal | None]:
    return MappingProxyType(dict(values))


@dataclass(frozen=True, slots=True)
class History:
    """A read-only view of the ledger before the period being run (what rules may look back at)."""

    tiers: Mapping[str, tuple[TierRecord, ...]] = field(default_factory=lambda: MappingProxyType({}))
    lines: Mapping[str, tuple[LedgerLine, ...]] = field(default_factory=lambda: MappingProxyType({}))
    closed_periods: frozenset[str] = frozenset()

    def tiers_of(self, partner_id: str) -> tuple[TierRecord, ...]:
        """Tier records of earlier periods, oldest first."""
        return self.tiers.get(partner_id, ())

    def lines_of(self, partner_id: str) -> tuple[LedgerLine, ...]:
        """Payout lines of earlier periods, in period order."""
        return self.lines.get(partner_id, ())
