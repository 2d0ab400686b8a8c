"""What the engine computes: metric values, scores, tier decisions and payout lines."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Protocol


@dataclass(frozen=True, slots=True)
class MetricDefinition:
    """A metric a plugin provides: its name as the program's ``scoring`` and ``requires`` use it."""

    name: str
    """The metric's name, as the program's ``scoring.metrics`` and tier ``requires`` use it."""
    description: str
    """What it measures (``cosell plugins`` and statements show it)."""
    money: bool = False
    """True when the value is an amount in the program currency (shown with cents)."""


@dataclass(frozen=True, slots=True)
class ScorePart:
    """One metric's contribution: f = min(value ÷ target, 1) (or target ÷ value when lower is better)."""

    metric: str
    """The metric's name."""
    value: Decimal | None
    """The partner's value; None when undefined (it scores 0)."""
    target: Decimal
    """The program's target for it."""
    weight: Decimal
    """The program's weight for it."""
    fraction: Decimal
    """min(value ÷ target, 1), or min(target ÷ value, 1) when lower is better."""
    better: str = "higher"
    """``higher`` or ``lower``."""


@dataclass(frozen=True, slots=True)
class Score:
    """A partner's score for the period, with each metric's part in it."""

    value: Decimal
    """scale × Σ weight × fraction ÷ Σ weight, rounded half-up to 2 decimals."""
    parts: tuple[ScorePart, ...] = ()
    """Each scoring metric's contribution, in the program's order."""


@dataclass(frozen=True, slots=True)
class TierDecision:
    """The tier a partner is eligible for this period and the one it is assigned, with the reason."""

    eligible: str
    """The highest tier whose ``min_score`` and requirements the partner meets this period."""
    assigned: str
    """The tier the partner holds this period (the previous one during a demotion grace period)."""
    previous: str | None
    """The tier before this period (ledger, else the CRM's), or None."""
    periods_below: int
    """Consecutive periods the eligible tier has been below the held one."""
    reason: str
    """One sentence saying why (statements and ``cosell explain`` show it)."""
    exception: TierException | None = None
    """The approved tier exception that lifted ``assigned`` above the tier earned; None when it is earned."""

    @property
    def shown(self) -> str:
        """The tier as people read it: "Gold", or "Gold (exception until 2027-Q2: <reason>)"."""
        return tier_label(self.assigned, self.exception)


@dataclass(frozen=True, slots=True)
class PartnerStanding:
    """A partner's metrics, score and tier for the period: what payout rules read."""

    partner_id: str
    """The partner's id."""
    metrics: Mapping[str, Decimal | None]
    """Every metric's value for the period by name; None when undefined."""
    score: Score
    """The period's score."""
    tier: TierDecision
    """The tier decision."""
    name: str = ""
    """The partner's name when the standing was computed (statements show it)."""


@dataclass(frozen=True, slots=True)
class LineKind:
    """A kind of payout line, declared by the one plugin that may produce it, and how cosell treats
    its lines. Only the declaring plugin's lines may carry this kind.

    ``capped``: the lines count toward the per-partner cap. ``in_budget``: they count toward the
    program budget. ``deal_incentive``: a line with a ``deal_id`` counts in that deal's incentive
    field on the CRM (summed with the deal's other such lines over all periods). ``reverses``: a line
    of this kind takes back an earlier payment (the deal's status becomes "Clawed back").
    ``period_earnings``: the lines count in the partner's period earnings on the CRM account.
    ``adjustment``: the kind is produced by ``cosell_adjustments`` (statements show it after the
    earning lines)."""

    name: str
    """The kind, as lines carry it (``loyalty``); one plugin alone declares it."""
    title: str
    """How statements head the lines of this kind ("Commission")."""
    capped: bool = True
    """The lines count toward the per-partner cap."""
    in_budget: bool = True
    """The lines count toward the program budget."""
    deal_incentive: bool = False
    """A line with a ``deal_id`` counts in that deal's incentive field on the CRM."""
    reverses: bool = False
    """A line of this kind takes back an earlier payment (the deal shows "Clawed back")."""
    period_earnings: bool = True
    """The lines count in the partner's period earnings on the CRM account."""
    adjustment: bool = False
    """The kind comes from ``cosell_adjustments`` (statements show it after the earning lines)."""
    description: str = ""
    """A sentence on what the lines pay (``cosell plugins`` shows it)."""

    def treatment(self) -> str:
        """One line saying how the lines of this kind are treated (``cosell plugins``)."""
        parts = [
            "inside the per-partner cap" if self.capped else "outside the per-partner cap",
            "inside the program budget" if self.in_budget else "outside the program budget",
        ]
        if self.deal_incentive:
            parts.append("shown on the deal")
        if not self.period_earnings:
            parts.append("not in period earnings")
        return ", ".join(parts)


class KindedAmount(Protocol):
    """Any line: a computed ``PayoutLine``, a stored ``LedgerLine``, a statement's line."""

    @property
    def kind(self) -> str: ...
    @property
    def amount(self) -> Decimal: ...


def period_earnings(lines: Iterable[KindedAmount], kinds: Mapping[str, LineKind]) -> Decimal:
    """A partner's period earnings: the sum of its lines whose kind counts in them (MDF does not). A
    line of a kind no installed plugin declares counts."""
    total = Decimal(0)
    for line in lines:
        kind = kinds.get(line.kind)
        if kind is None or kind.period_earnings:
            total += line.amount
    return total


@dataclass(frozen=True, slots=True)
class PayoutLine:
    """One computed line of a partner's statement. ``amount`` is in the program currency, rounded to
    cents. ``withheld`` marks a line of 0 kept for its reason. ``uncapped`` is set by cosell from the
    line's declared ``LineKind`` (a plugin need not set it). ``tags`` carry facts later rules read
    (``margin_floor`` on a commission line, say)."""

    partner_id: str
    """The partner paid."""
    kind: str
    """The line's kind, one the producing plugin declares in ``cosell_line_kinds``."""
    amount: Decimal
    """A Decimal in the program currency, rounded half-up to cents; negative takes back."""
    explanation: str
    """One line a partner can read: the inputs and the arithmetic."""
    deal_id: str | None = None
    """The deal the line is for, one of the run's deals; None for a partner-wide line."""
    withheld: bool = False
    """True for a line of 0 kept for its reason (a guardrail, say)."""
    uncapped: bool = False
    """Set by cosell from the kind's declaration: the line is outside the per-partner cap."""
    tags: frozenset[str] = frozenset()
    """Facts later rules or periods read, stored with the line; ``internal:<sentence>`` is shown by ``cosell explain`` only."""


INTERNAL_NOTE = "internal:"
"""Prefix of a line tag that carries a sentence for the program's own people (``cosell explain``),
never shown on the statements partners read: program-wide figures, say."""


def internal_notes(tags: frozenset[str]) -> tuple[str, ...]:
    """The internal sentences among a line's tags, sorted."""
    return tuple(sorted(t[len(INTERNAL_NOTE) :] for t in tags if t.startswith(INTERNAL_NOTE)))


BASIS_TAG = "basis:"
"""Prefix of the tags of a partner-wide line computed from the partner's deal lines of one kind
(``basis:<kind>``), leaving out the withheld ones and those tagged ``basis-except:<tag>``: an
accelerator on commission not under a margin floor, say. ``cosell compare`` reads it to tell which
deals such a line treats differently under another program."""
BASIS_EXCEPT_TAG = "basis-except:"


def basis_tags(kind: str, *, except_tagged: Iterable[str] = ()) -> frozenset[str]:
    """The tags saying a line is computed from the partner's ``kind`` lines that are not withheld and
    carry none of ``except_tagged``."""
    return frozenset({BASIS_TAG + kind, *(BASIS_EXCEPT_TAG + tag for tag in except_tagged)})


def in_basis(line: PayoutLine, of: PayoutLine) -> bool:
    """Whether ``line`` (a deal line) is among the lines the partner-wide line ``of`` is computed from."""
    if BASIS_TAG + line.kind not in of.tags or line.withheld:
        return False
    return not any(BASIS_EXCEPT_TAG + tag in of.tags for tag in line.tags)


@dataclass(frozen=True, slots=True)
class Projection:
    """What an open deal would pay one partner if won on the period's last day (written back, never paid)."""

    partner_id: str
    """The partner it would pay."""
    deal_id: str
    """The open deal."""
    amount: Decimal
    """What it would pay, rounded to cents."""
    explanation: str
    """One line saying how."""
    withheld: bool = False
    """True when the discount guardrail would withhold it."""


@dataclass(frozen=True, slots=True)
class LedgerLine:
    """A payout line as the ledger holds it, with its period."""

    period: str
    """The period the line belongs to, e.g. ``2026-Q3``."""
    partner_id: str
    """The partner paid."""
    kind: str
    """The line's kind."""
    amount: Decimal
    """The amount in the program currency, to the cent."""
    explanation: str
    """The line's explanation."""
    deal_id: str | None = None
    """The deal, or None."""
    withheld: bool = False
    """True for a withheld line of 0."""
    uncapped: bool = False
    """True when the line was outside the per-partner cap when computed."""
    tags: frozenset[str] = frozenset()
    """The line's tags, as stored."""


@dataclass(frozen=True, slots=True)
class TierRecord:
    """A partner's tier history entry for one period."""

    period: str
    """The period, e.g. ``2026-Q2``."""
    score: Decimal
    """The score that period."""
    eligible: str
    """The tier the partner was eligible for."""
    assigned: str
    """The tier the partner held."""


def frozen_mapping(values: Mapping[str, Decimal | None]) -> Mapping[str, Decimal | None]:
    return MappingProxyType(dict(values))


@dataclass(frozen=True, slots=True)
class ApprovedAdjustment:
    """An adjustment the governance body approved (``cosell adjust``), due in the period being run: its
    own period, an earlier one it could not be paid in (closed, or older than the latest run), or none
    named. ``approved_by`` is None when the program's threshold approved it on proposal."""

    id: int
    partner_id: str
    amount: Decimal
    reason: str
    proposed_by: str
    approved_by: str | None
    period: str | None = None
    deal_id: str | None = None


@dataclass(frozen=True, slots=True)
class TierException:
    """A tier exception the governance body approved (``cosell tier-override``): the partner holds at
    least ``tier`` in every period up to ``until`` (inclusive), then it ends by itself."""

    id: int
    partner_id: str
    tier: str
    until: str
    reason: str
    proposed_by: str
    approved_by: str


def tier_label(tier: str, exception: TierException | None, most: int | None = None) -> str:
    """``Gold``, or ``Gold (exception until 2027-Q2: <reason>)`` for a tier held by exception. With
    ``most``, the reason is shortened (ending in "…") so that the whole label fits in ``most``
    characters (a CRM text field's length); the tier and the period are never cut."""
    if exception is None:
        return tier
    reason = " ".join(exception.reason.split())
    head = f"{tier} (exception until {exception.until}: "
    if most is not None and len(head) + len(reason) + 1 > most:
        room = most - len(head) - 2
        if room < 1:  # a tier name too long to leave room for any reason
            return f"{tier} (exception until {exception.until})"
        reason = reason[:room].rstrip() + "…"
    return f"{head}{reason})"


ADJUSTMENT_TAG = "adjustment-id:"
"""Prefix of the tag that names the adjustment a line pays (``adjustment-id:7``): the ledger marks that
adjustment applied in the transaction that stores the line."""


def adjustment_tag(adjustment_id: int) -> str:
    return f"{ADJUSTMENT_TAG}{adjustment_id}"


def paid_adjustments(lines: Iterable[PayoutLine]) -> tuple[int, ...]:
    """The ids of the adjustments the lines pay, in line order."""
    return tuple(
        int(tag[len(ADJUSTMENT_TAG) :])
        for line in lines
        for tag in sorted(line.tags)
        if tag.startswith(ADJUSTMENT_TAG)
    )


@dataclass(frozen=True, slots=True)
class History:
    """A read-only view of the ledger before the period being run (what rules may look back at)."""

    tiers: Mapping[str, tuple[TierRecord, ...]] = field(default_factory=lambda: MappingProxyType({}))
    """Tier records of earlier periods by partner id, oldest first (``tiers_of``)."""
    lines: Mapping[str, tuple[LedgerLine, ...]] = field(default_factory=lambda: MappingProxyType({}))
    """Payout lines of earlier periods by partner id, in period order (``lines_of``)."""
    closed_periods: frozenset[str] = frozenset()
    """The keys of the periods closed with ``cosell close``."""
    adjustments: tuple[ApprovedAdjustment, ...] = ()
    """The approved adjustments the period being run pays (each once: the ledger marks it applied)."""
    tier_exceptions: tuple[TierException, ...] = ()
    """The approved tier exceptions in force in the period being run (``until`` not before it)."""

    def tier_exceptions_of(self, partner_id: str) -> tuple[TierException, ...]:
        """The partner's approved tier exceptions in force in the period being run, oldest first."""
        return tuple(e for e in self.tier_exceptions if e.partner_id == partner_id)

    def tiers_of(self, partner_id: str) -> tuple[TierRecord, ...]:
        """Tier records of earlier periods, oldest first."""
        return self.tiers.get(partner_id, ())

    def lines_of(self, partner_id: str) -> tuple[LedgerLine, ...]:
        """Payout lines of earlier periods, in period order."""
        return self.lines.get(partner_id, ())
