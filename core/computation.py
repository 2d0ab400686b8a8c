"""What a run computed for a period, before anything is stored or written, and how long steps report
progress."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from .context import PartnerFacts, RunContext
from .records import Partner
from .results import PartnerStanding, PayoutLine, Projection, period_earnings

if TYPE_CHECKING:
    from .pilots import PilotPlan


class Progress(Protocol):
    """Reports progress of long steps (the CLI shows bars on a terminal; elsewhere it is silent)."""

    def step(self, name: str, total: int | None = None) -> Callable[[int], None]: ...


class Silent:
    def step(self, name: str, total: int | None = None) -> Callable[[int], None]:
        return lambda n: None


@dataclass(frozen=True, slots=True)
class Computation:
    """Everything a run computed for a period, before anything is stored or written."""

    context: RunContext
    """The run the hooks saw: program, period, history, records, settings, line kinds."""
    facts: tuple[PartnerFacts, ...]
    """Every partner with its records, in input order."""
    standings: tuple[PartnerStanding, ...]
    """Each partner's metrics, score and tier, in the order of ``facts``."""
    lines: Mapping[str, tuple[PayoutLine, ...]]
    """Each partner's payout lines by partner id, adjustments (cap, budget) included, in computed order."""
    projections: tuple[Projection, ...]
    """What each open deal would pay each of its partners if won on the period's last day."""
    pilot: PilotPlan | None = None
    """The program's A/B pilot as this run applied it (each partner's arm), or None without a pilot."""
    variant_context: RunContext | None = None
    """Under a pilot, the context of the variant's rules (its program and plugin settings)."""
    scored_by: Mapping[str, str] = field(default_factory=dict)
    """Partner id → the plugin that gave its score, for the partners a plugin other than cosell's own
    scored (``cosell_score``); the others were scored by the program's scoring section."""
    not_joined: tuple[Partner, ...] = ()
    """The partners of the records left out of the period: their ``joined_on`` is after its last day
    (not in ``facts``: no score, tier or lines)."""

    def context_of(self, partner_id: str) -> RunContext:
        """The context a partner was computed in: the variant's for a pilot's test arm."""
        if self.variant_context is not None and partner_id in self.variant_context.cohort:
            return self.variant_context
        return self.context

    def all_lines(self) -> list[PayoutLine]:
        """Every partner's lines, partner by partner in input order."""
        return [line for facts in self.facts for line in self.lines.get(facts.id, ())]

    def earnings(self, partner_id: str) -> Decimal:
        """Period earnings: the sum of the partner's lines whose kind counts in them (MDF does not)."""
        return period_earnings(self.lines.get(partner_id, ()), self.context.line_kinds)
