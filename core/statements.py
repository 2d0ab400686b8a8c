"""Statements: what a partner reads about its period, from the ledger (csv, json, html) or from a fresh
computation (``cosell explain``).

``PartnerStatement`` is the one place that derives what the lines imply: the lines grouped in SPEC
order, the subtotal before adjustments and what the cap and the budget did to it, period earnings,
the MDF claims funded, released and pending, and what the next tier needs. The HTML page and the
terminal explanation both render it; neither adds money up on its own.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol

from rich.console import Console
from rich.table import Table

from .errors import ConfigError
from .money import format_money, round_score, show, show_number
from .periods import Period
from .results import ScorePart, internal_notes
from .textsafe import spreadsheet_cell
from .textsafe import terminal_text as escape  # markup and control characters: text comes from CRMs

if TYPE_CHECKING:
    from .computation import Computation
    from .context import PartnerFacts
    from .ledger import Ledger
    from .program import Program
    from .results import MetricDefinition, PartnerStanding, PayoutLine

CSV_COLUMNS = ("partner_id", "period", "kind", "deal_id", "amount", "explanation")
FORMATS = ("csv", "json", "html")
ZERO = Decimal(0)

EARNING_KINDS = ("signing_bonus", "baseline", "commission", "accelerator", "milestone", "clawback")
"""SPEC "Payout lines" 1–6, in that order; plugin kinds follow them, then the adjustments."""
ADJUSTMENT_KINDS = ("cap", "budget")
"""Caps first, then the program budget (SPEC 7–8)."""
MDF = "mdf"
KIND_TITLES = {
    "signing_bonus": "Signing bonus",
    "baseline": "Baseline",
    "commission": "Commission",
    "accelerator": "Accelerator",
    "milestone": "Milestones",
    "clawback": "Clawbacks",
    "cap": "Per-partner cap",
    "budget": "Program budget",
    MDF: "Market-development funds",
}

# The tags the MDF rule (plugins/mdf.py) writes on its lines: the ledger's record of each claim.
_MDF_CLAIM, _MDF_STAGE, _MDF_FUNDED = "mdf_claim", "mdf_stage", "mdf_funded"
_MDF_CAMPAIGN, _MDF_APPROVED = "mdf_campaign", "mdf_approved"


class StatementLine(Protocol):
    """A payout line as statements read it: a computed ``PayoutLine`` or a stored ``LedgerLine``."""

    @property
    def partner_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def explanation(self) -> str: ...
    @property
    def deal_id(self) -> str | None: ...
    @property
    def withheld(self) -> bool: ...
    @property
    def uncapped(self) -> bool: ...
    @property
    def tags(self) -> frozenset[str]: ...


CampaignPipeline = Callable[[str, date], Decimal]
"""(campaign, approved_on) → the partner's campaign pipeline since then, to the period's end."""


def period_earnings(lines: Iterable[StatementLine]) -> Decimal:
    """SPEC "Period earnings": the sum of a partner's lines in the period, MDF left out."""
    return sum((line.amount for line in lines if line.kind != MDF), ZERO)


# --- the parts of a statement ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineGroup:
    """The lines of one kind, in stored order."""

    kind: str
    lines: tuple[StatementLine, ...]

    @property
    def title(self) -> str:
        return KIND_TITLES.get(self.kind, self.kind.replace("_", " ").capitalize())

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)


@dataclass(frozen=True, slots=True)
class Adjustments:
    """From the subtotal of the period's lines to period earnings: the cap, then the budget.

    ``capped_subtotal`` is what the cap and the budget see (the lines not marked uncapped);
    ``outside_caps`` the lines they never touch (clawbacks, plugin lines marked uncapped), MDF aside.
    """

    capped_subtotal: Decimal
    outside_caps: Decimal
    cap: Decimal | None
    """The cap line's amount (negative), None when the partner's lines stayed under the cap."""
    budget: Decimal | None
    """The budget line's amount (negative), None when the program budget was not exceeded."""
    earnings: Decimal
    per_partner_cap: Decimal | None = None
    program_budget: Decimal | None = None

    @property
    def subtotal(self) -> Decimal:
        """Every line before the cap and the budget, MDF left out."""
        return self.capped_subtotal + self.outside_caps

    @property
    def after_cap(self) -> Decimal:
        return self.capped_subtotal + (self.cap or ZERO)

    @property
    def after_budget(self) -> Decimal:
        return self.after_cap + (self.budget or ZERO)

    def cap_text(self) -> str:
        if self.cap is not None:
            return f"capped from {show(self.capped_subtotal)} to {show(self.after_cap)}"
        if self.per_partner_cap is not None:
            return (
                f"{show(self.capped_subtotal)} is within the per-partner cap of {show(self.per_partner_cap)}"
            )
        return "no cap line"

    def budget_text(self) -> str:
        if self.budget is not None:
            return f"scaled by the program budget from {show(self.after_cap)} to {show(self.after_budget)}"
        if self.program_budget is not None:
            # the budget's amount is the program's business, not the partner's
            return "not scaled: the program stayed within its budget"
        return "no budget line"


@dataclass(frozen=True, slots=True)
class Requirement:
    """One ``requires`` entry of a tier against the partner's metric."""

    metric: str
    needed: Decimal
    value: Decimal | None

    @property
    def met(self) -> bool:
        return self.value is not None and self.value >= self.needed

    def text(self) -> str:
        if self.met:
            return f"{self.metric} ≥ {number(self.needed)}: met ({number(self.value or ZERO)})"
        if self.value is None:
            return f"{self.metric} ≥ {number(self.needed)}: undefined this period"
        return (
            f"{self.metric} ≥ {number(self.needed)}: {number(self.value)} now, "
            f"{number(self.needed - self.value)} to go"
        )


@dataclass(frozen=True, slots=True)
class TierGoal:
    """What a tier needs: its min_score and every ``requires``. ``keep`` is the tier a partner holds under
    the demotion grace and is not eligible for; otherwise it is the tier above the assigned one."""

    tier: str
    min_score: Decimal
    score: Decimal
    requirements: tuple[Requirement, ...]
    keep: bool = False

    @property
    def score_met(self) -> bool:
        return self.score >= self.min_score

    @property
    def unmet(self) -> tuple[Requirement, ...]:
        return tuple(r for r in self.requirements if not r.met)

    def heading(self) -> str:
        if self.keep:
            return f"To be eligible for {self.tier} again (held under the demotion grace)"
        return f"Next tier: {self.tier}"

    def needs(self) -> list[tuple[str, bool]]:
        """(sentence, met?) per condition: the min_score first, then each unmet requirement."""
        if self.score_met:
            score = f"score ≥ {number(self.min_score)}: met ({self.score:.2f})"
        else:
            score = (
                f"score ≥ {number(self.min_score)}: {self.score:.2f} now, "
                f"{number(self.min_score - self.score)} points to go"
            )
        return [(score, self.score_met), *((r.text(), False) for r in self.unmet)]


@dataclass(frozen=True, slots=True)
class MdfClaimStatus:
    """One MDF claim as the ledger records it up to the end of the period."""

    claim_id: str
    campaign: str
    approved_on: date | None
    funded: Decimal
    paid_on_approval: Decimal
    released: Decimal
    approved_in_period: bool
    released_in_period: bool
    needed_pipeline: Decimal | None
    """release_pipeline_multiple × funded; None without the program."""
    pipeline: Decimal | None = None
    """The campaign pipeline so far, where the records are at hand (``cosell explain``)."""

    @property
    def status(self) -> Literal["not funded", "paid on approval", "released", "pending"]:
        if self.funded <= 0:
            return "not funded"
        if self.released:
            return "released"
        return "paid on approval" if self.rest <= 0 else "pending"

    @property
    def rest(self) -> Decimal:
        """What is still to be released (0 once released)."""
        return ZERO if self.released else self.funded - self.paid_on_approval

    def needs(self) -> str:
        """What a pending claim waits for."""
        since = f" created on or after {self.approved_on}" if self.approved_on else ""
        deals = f"deals of campaign {self.campaign}{since}"
        if self.needed_pipeline is None:
            return (
                f"released once the pipeline of {deals} reaches the program's multiple of the funded amount"
            )
        text = f"released once the pipeline of {deals} reaches {show(self.needed_pipeline)}"
        if self.pipeline is not None:
            short = max(self.needed_pipeline - self.pipeline, ZERO)
            text += f" (now {show(self.pipeline)}, {show(short)} to go)"
        return text


@dataclass(frozen=True, slots=True)
class MdfSummary:
    """The period's MDF: paid on approval, released, and what is still pending at its end."""

    lines: tuple[StatementLine, ...]
    claims: tuple[MdfClaimStatus, ...]

    @property
    def funded(self) -> Decimal:
        """What the claims approved in the period were funded with (up to the tier's MDF budget)."""
        return sum((c.funded for c in self.claims if c.approved_in_period), ZERO)

    @property
    def paid_on_approval(self) -> Decimal:
        return sum((ln.amount for ln in self.lines if _tag(ln, _MDF_STAGE) == "approval"), ZERO)

    @property
    def released(self) -> Decimal:
        return sum((ln.amount for ln in self.lines if _tag(ln, _MDF_STAGE) != "approval"), ZERO)

    @property
    def paid(self) -> Decimal:
        return sum((ln.amount for ln in self.lines), ZERO)

    @property
    def pending(self) -> tuple[MdfClaimStatus, ...]:
        return tuple(c for c in self.claims if c.status == "pending")

    @property
    def pending_amount(self) -> Decimal:
        return sum((c.rest for c in self.pending), ZERO)


@dataclass(frozen=True, slots=True)
class PartnerStatement:
    """One partner's period: score against targets, tier and what the next one needs, lines in SPEC
    order, adjustments and earnings, MDF. Built from a standing, the lines and (optionally) the program."""

    partner_id: str
    period: str
    name: str | None
    score: Decimal
    eligible: str
    assigned: str
    reason: str
    parts: tuple[ScorePart, ...]
    """Scored metrics with target, weight and fraction; empty without the program."""
    other_metrics: tuple[tuple[str, Decimal | None], ...]
    """Metrics the score does not weigh (all of them without the program)."""
    targets_known: bool
    scale: Decimal | None
    score_note: str | None
    """Set when the program's targets do not give the stored score (the program changed since the run)."""
    goals: tuple[TierGoal, ...] | None
    """What the next tier (and a tier held under grace) needs; None without the program."""
    top_tier: bool
    groups: tuple[LineGroup, ...]
    """Earning lines and the adjustments, SPEC order, MDF left out (it is in ``mdf``)."""
    adjustments: Adjustments
    mdf: MdfSummary

    @property
    def earnings(self) -> Decimal:
        return self.adjustments.earnings

    @property
    def lines(self) -> tuple[StatementLine, ...]:
        """Every line in SPEC order, MDF last."""
        return tuple(ln for g in self.groups for ln in g.lines) + self.mdf.lines

    @classmethod
    def build(
        cls,
        partner_id: str,
        period: str,
        *,
        score: Decimal,
        eligible: str,
        assigned: str,
        reason: str,
        metrics: Mapping[str, Decimal | None],
        lines: Sequence[StatementLine],
        earlier_lines: Sequence[StatementLine] = (),
        program: Program | None = None,
        parts: Sequence[ScorePart] | None = None,
        name: str | None = None,
        campaign_pipeline: CampaignPipeline | None = None,
    ) -> PartnerStatement:
        """``parts`` are the score's own parts when a computation is at hand; from the ledger they are
        derived from the program's targets. ``earlier_lines`` are the partner's lines of earlier periods
        (MDF approvals still waiting for their release)."""
        scoring = program.scoring if program else None
        note = None
        if parts is None:
            parts = score_parts(metrics, program) if program else ()
            if parts and scoring and _score_of(parts, scoring.scale) != score:
                note = (
                    f"the program's targets and weights give a score of {_score_of(parts, scoring.scale):.2f}, "
                    f"the ledger holds {score:.2f}: the program may have changed since the run"
                )
        scored = {p.metric for p in parts}
        goals, top = (
            tier_goals(program, score, metrics, eligible, assigned) if program and assigned else (None, False)
        )
        return cls(
            partner_id=partner_id,
            period=period,
            name=name,
            score=score,
            eligible=eligible,
            assigned=assigned,
            reason=reason,
            parts=tuple(parts),
            other_metrics=tuple(sorted((k, v) for k, v in metrics.items() if k not in scored)),
            targets_known=program is not None,
            scale=scoring.scale if scoring else None,
            score_note=note,
            goals=goals,
            top_tier=top,
            groups=grouped(ln for ln in lines if ln.kind != MDF),
            adjustments=adjustments_of(lines, program),
            mdf=mdf_summary(lines, earlier_lines, program, campaign_pipeline),
        )


# --- deriving the parts ----------------------------------------------------------------------------


def grouped(lines: Iterable[StatementLine]) -> tuple[LineGroup, ...]:
    """Lines by kind in SPEC order: the earning kinds, then plugin kinds (first seen first), then the cap,
    the budget and MDF. Lines keep their stored order inside a kind."""
    by_kind: dict[str, list[StatementLine]] = {}
    for line in lines:
        by_kind.setdefault(line.kind, []).append(line)
    fixed = (*EARNING_KINDS, *ADJUSTMENT_KINDS, MDF)
    plugin_kinds = [k for k in by_kind if k not in fixed]
    order = [*EARNING_KINDS, *plugin_kinds, *ADJUSTMENT_KINDS, MDF]
    return tuple(LineGroup(k, tuple(by_kind[k])) for k in order if k in by_kind)


def adjustments_of(lines: Iterable[StatementLine], program: Program | None = None) -> Adjustments:
    capped = outside = ZERO
    cap: Decimal | None = None
    budget: Decimal | None = None
    for line in lines:
        if line.kind == MDF:
            continue
        if line.kind == "cap":
            cap = (cap or ZERO) + line.amount
        elif line.kind == "budget":
            budget = (budget or ZERO) + line.amount
        elif line.uncapped:
            outside += line.amount
        else:
            capped += line.amount
    caps = program.caps if program else None
    return Adjustments(
        capped_subtotal=capped,
        outside_caps=outside,
        cap=cap,
        budget=budget,
        earnings=capped + outside + (cap or ZERO) + (budget or ZERO),
        per_partner_cap=caps.per_partner if caps else None,
        program_budget=caps.program_budget if caps else None,
    )


def score_parts(metrics: Mapping[str, Decimal | None], program: Program) -> tuple[ScorePart, ...]:
    """The score's parts from stored metric values and the program's targets (SPEC "Score and tier")."""
    if program.scoring is None:
        return ()
    return tuple(
        ScorePart(
            name,
            metrics.get(name),
            t.target,
            t.weight,
            _fraction(metrics.get(name), t.target, t.better),
            t.better,
        )
        for name, t in program.scoring.metrics.items()
    )


def _fraction(value: Decimal | None, target: Decimal, better: str) -> Decimal:
    # SPEC: f = min(metric ÷ target, 1), or min(target ÷ metric, 1) when lower is better (1 at 0);
    # an undefined metric reaches 0.
    if value is None:
        return ZERO
    if better == "lower":
        reached = Decimal(1) if value <= 0 else target / value
    else:
        reached = value / target
    return max(ZERO, min(reached, Decimal(1)))


def _score_of(parts: Sequence[ScorePart], scale: Decimal) -> Decimal:
    weight = sum((p.weight for p in parts), ZERO)
    if weight == 0:
        return ZERO
    return round_score(scale * sum((p.weight * p.fraction for p in parts), ZERO) / weight)


def tier_goals(
    program: Program, score: Decimal, metrics: Mapping[str, Decimal | None], eligible: str, assigned: str
) -> tuple[tuple[TierGoal, ...], bool]:
    """(goals, at the top tier?): the assigned tier when it is held under grace, and the tier above it."""
    rank = program.tier_rank(assigned)
    goals = []

    def goal(index: int, *, keep: bool = False) -> TierGoal:
        tier = program.tiers[index]
        requirements = tuple(Requirement(m, needed, metrics.get(m)) for m, needed in tier.requires.items())
        return TierGoal(tier.name, tier.min_score, score, requirements, keep)

    if program.tier(assigned) is not None and program.tier_rank(eligible) < rank:
        goals.append(goal(rank, keep=True))
    top = rank + 1 >= len(program.tiers)
    if not top:
        goals.append(goal(rank + 1))
    return tuple(goals), top


def _tag(line: StatementLine, prefix: str) -> str | None:
    return next((t.split(":", 1)[1] for t in line.tags if t.startswith(prefix + ":")), None)


def mdf_summary(
    lines: Iterable[StatementLine],
    earlier_lines: Iterable[StatementLine],
    program: Program | None,
    campaign_pipeline: CampaignPipeline | None = None,
) -> MdfSummary:
    """The period's MDF lines, and every claim approved or released in the period or still pending at
    its end (an approval line in this period or before, and no release line yet)."""
    now = tuple(ln for ln in lines if ln.kind == MDF)
    before = tuple(ln for ln in earlier_lines if ln.kind == MDF)
    approvals: dict[str, tuple[StatementLine, bool]] = {}
    released: dict[str, tuple[Decimal, bool]] = {}
    for in_period, group in ((False, before), (True, now)):
        for ln in group:
            claim = _tag(ln, _MDF_CLAIM)
            if claim is None:
                continue
            if _tag(ln, _MDF_STAGE) == "approval":
                approvals[claim] = (ln, in_period)
            else:
                amount, _ = released.get(claim, (ZERO, False))
                released[claim] = (amount + ln.amount, in_period)
    multiple = program.mdf.release_pipeline_multiple if program and program.mdf else None
    claims = []
    for claim_id, (approval, approved_now) in approvals.items():
        funded = Decimal(_tag(approval, _MDF_FUNDED) or "0")
        amount, released_now = released.get(claim_id, (ZERO, False))
        approved_text = _tag(approval, _MDF_APPROVED)
        approved_on = date.fromisoformat(approved_text) if approved_text else None
        campaign = _tag(approval, _MDF_CAMPAIGN) or ""
        status = MdfClaimStatus(
            claim_id=claim_id,
            campaign=campaign,
            approved_on=approved_on,
            funded=funded,
            paid_on_approval=approval.amount,
            released=amount,
            approved_in_period=approved_now,
            released_in_period=released_now,
            needed_pipeline=None if multiple is None else multiple * funded,
            pipeline=(
                campaign_pipeline(campaign, approved_on)
                if campaign_pipeline is not None and approved_on is not None
                else None
            ),
        )
        if approved_now or released_now or status.status == "pending":
            claims.append(status)
    claims.sort(key=lambda c: (c.approved_on or date.min, c.claim_id))
    return MdfSummary(now, tuple(claims))


# --- from the ledger -------------------------------------------------------------------------------


def ledger_statements(
    ledger: Ledger, period: str, partner_id: str | None, program: Program | None
) -> list[PartnerStatement]:
    """One statement per partner with a standing or a line in the period (only ``partner_id``, if given)."""
    standings = {s.partner_id: s for s in ledger.standings(period) if partner_id in (None, s.partner_id)}
    lines: dict[str, list[StatementLine]] = {}
    for line in ledger.lines(period, partner_id):
        lines.setdefault(line.partner_id, []).append(line)
    history = ledger.history(Period.parse(period))
    out = []
    for pid in sorted(set(standings) | set(lines)):
        standing = standings.get(pid)
        out.append(
            PartnerStatement.build(
                pid,
                period,
                score=standing.score if standing else ZERO,
                eligible=standing.eligible if standing else "",
                assigned=standing.assigned if standing else "",
                reason=standing.reason if standing else "the ledger holds no standing for this partner",
                name=standing.name if standing and standing.name else None,
                metrics=standing.metrics if standing else {},
                lines=lines.get(pid, ()),
                earlier_lines=history.lines_of(pid),
                program=program,
            )
        )
    return out


def render(
    ledger: Ledger,
    period: str,
    partner_id: str | None,
    fmt: str,
    program: Program | None = None,
    definitions: Mapping[str, MetricDefinition] | None = None,
) -> str:
    """The period's statement as csv, json or html. ConfigError (exit 2) for an unknown format, a period
    the ledger has no run for, or a partner it does not hold."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    status = ledger.period_status(period)
    if status is None:
        raise ConfigError(f"the ledger has no run for period {period}")
    lines = ledger.lines(period, partner_id)
    if (
        partner_id is not None
        and not lines
        and not any(s.partner_id == partner_id for s in ledger.standings(period))
    ):
        raise ConfigError(f"the ledger has no partner {partner_id!r} in period {period}")
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for line in lines:
            cells = (
                line.partner_id,
                line.period,
                line.kind,
                line.deal_id or "",
                format_money(line.amount),
                line.explanation,
            )
            writer.writerow([spreadsheet_cell(cell) for cell in cells])
        return buffer.getvalue()
    if fmt == "html":
        from .html_statement import render_html  # here, not at the top: html_statement builds on this module

        return render_html(
            ledger_statements(ledger, period, partner_id, program),
            period=period,
            status=status,
            program=program,
            definitions=definitions or {},
        )
    standings = {s.partner_id: s for s in ledger.standings(period)}
    by_partner: dict[str, list[StatementLine]] = {}
    for line in lines:
        by_partner.setdefault(line.partner_id, []).append(line)
    ids = sorted(set(by_partner) | ({partner_id} if partner_id else set(standings)))
    doc: dict[str, Any] = {
        "period": period,
        "status": status,
        "partners": [
            {
                "partner_id": pid,
                "tier": standings[pid].assigned if pid in standings else None,
                "score": f"{standings[pid].score:.2f}" if pid in standings else None,
                "period_earnings": format_money(period_earnings(by_partner.get(pid, ()))),
                "lines": [
                    {
                        "kind": line.kind,
                        "deal_id": line.deal_id,
                        "amount": format_money(line.amount),
                        "withheld": line.withheld,
                        "explanation": line.explanation,
                    }
                    for line in by_partner.get(pid, ())
                ],
            }
            for pid in ids
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


# --- from a computation: cosell explain ------------------------------------------------------------


def computed_statement(
    computation: Computation, facts: PartnerFacts, standing: PartnerStanding, lines: Sequence[PayoutLine]
) -> PartnerStatement:
    """The statement of one partner of a fresh computation (what ``cosell explain`` shows)."""
    end = computation.context.period.end

    def campaign_pipeline(campaign: str, since: date) -> Decimal:
        # As plugins/mdf.py measures it: Σ amount × share of the campaign's deals created since approval.
        return sum(
            (
                pd.deal.amount * pd.share
                for pd in facts.deals
                if pd.deal.campaign == campaign and since <= pd.deal.created_on <= end
            ),
            ZERO,
        )

    return PartnerStatement.build(
        facts.id,
        computation.context.period.key,
        score=standing.score.value,
        eligible=standing.tier.eligible,
        assigned=standing.tier.assigned,
        reason=standing.tier.reason,
        metrics=standing.metrics,
        lines=lines,
        earlier_lines=computation.context.history.lines_of(facts.id),
        program=computation.context.program,
        parts=standing.score.parts,
        name=facts.partner.name,
        campaign_pipeline=campaign_pipeline,
    )


def print_explanation(
    console: Console,
    computation: Computation,
    facts: PartnerFacts,
    standing: PartnerStanding,
    lines: tuple[PayoutLine, ...],
) -> None:
    program = computation.context.program
    statement = computed_statement(computation, facts, standing, lines)
    currency = program.currency
    console.print(
        f"[bold]{escape(facts.partner.name)}[/bold] ({escape(facts.id)}), {computation.context.period}, "
        f"program {escape(repr(program.program))}"
    )
    metrics = Table(title="Metrics and score")
    for column, justify in (
        ("Metric", "left"),
        ("Value", "right"),
        ("Target", "right"),
        ("Weight", "right"),
        ("Reached", "right"),
    ):
        metrics.add_column(column, justify=justify)  # type: ignore[arg-type]
    for part in statement.parts:
        value = "undefined" if part.value is None else number(part.value)
        target = ("≤ " if part.better == "lower" else "") + show_number(part.target)
        metrics.add_row(
            escape(part.metric),
            value,
            target,
            show_number(part.weight),
            f"{part.fraction:.4f}".rstrip("0").rstrip("."),
        )
    for name, other in statement.other_metrics:
        metrics.add_row(escape(name), "undefined" if other is None else number(other), "", "", "")
    console.print(metrics)
    if statement.parts and statement.scale is not None:
        terms = " + ".join(f"{show_number(p.weight)}×{p.fraction:.4f}" for p in statement.parts)
        total = sum((p.weight for p in statement.parts), Decimal(0))
        console.print(
            f"score = {show_number(statement.scale)} × ({terms}) ÷ {show_number(total)} = [bold]{statement.score:.2f}[/bold]"
        )
    else:
        console.print(f"score = {statement.score:.2f} (the program has no scoring section)")
    console.print(f"tier: [bold]{escape(statement.assigned)}[/bold]: {escape(statement.reason)}")
    for goal in statement.goals or ():
        console.print(f"[bold]{escape(goal.heading())}[/bold]")
        for need, met in goal.needs():
            console.print(f"  {'✓' if met else '-'} {escape(need)}")
    if statement.top_tier:
        console.print(f"{escape(statement.assigned)} is the program's highest tier.")

    table = Table(title="Payout lines")
    for column, justify in (("Kind", "left"), ("Deal", "left"), ("Amount", "right"), ("Explanation", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for line in statement.lines:
        if line.kind == MDF:
            continue
        table.add_row(
            escape(line.kind + (" (withheld)" if line.withheld else "")),
            escape(line.deal_id or ""),
            format_money(line.amount),
            escape("; ".join((line.explanation, *internal_notes(line.tags)))),
        )
    console.print(table if table.row_count else "no payout lines this period")
    adj = statement.adjustments
    split = (
        f" ({show(adj.capped_subtotal)} subject to the cap, {show(adj.outside_caps)} outside it)"
        if adj.outside_caps
        else ""
    )
    console.print(f"subtotal before adjustments: {show(adj.subtotal)}{split}")
    console.print(f"cap: {adj.cap_text()}" + (f": {show(adj.cap)}" if adj.cap is not None else ""))
    console.print(
        f"budget: {adj.budget_text()}" + (f": {show(adj.budget)}" if adj.budget is not None else "")
    )
    console.print(f"period earnings (MDF left out): [bold]{show(statement.earnings)} {currency}[/bold]")

    mdf = statement.mdf
    if mdf.lines or mdf.claims:
        claims = Table(title="MDF claims")
        for column, justify in (
            ("Claim", "left"),
            ("Campaign", "left"),
            ("Approved", "left"),
            ("Funded", "right"),
            ("On approval", "right"),
            ("Released", "right"),
            ("Status", "left"),
        ):
            claims.add_column(column, justify=justify)  # type: ignore[arg-type]
        for claim in mdf.claims:
            claims.add_row(
                escape(claim.claim_id),
                escape(claim.campaign),
                str(claim.approved_on or ""),
                show(claim.funded),
                show(claim.paid_on_approval),
                show(claim.released),
                escape(claim.status + (f" {show(claim.rest)}" if claim.status == "pending" else "")),
            )
        console.print(claims)
        for claim in mdf.pending:
            console.print(f"{escape(claim.claim_id)} pending {show(claim.rest)}: {escape(claim.needs())}")
        console.print(
            f"MDF: {show(mdf.funded)} funded, {show(mdf.paid_on_approval)} paid on approval, "
            f"{show(mdf.released)} released, "
            f"{show(mdf.pending_amount)} pending; {show(mdf.paid)} {currency} paid this period"
        )


def number(value: Decimal) -> str:
    """A metric value: two places when it has a fraction, thousands separated (``174,960``, ``0.5``)."""
    if value == value.to_integral_value():
        return f"{value.to_integral_value():,f}"
    rounded = value.quantize(Decimal("0.01"))
    return f"{rounded:,f}".rstrip("0").rstrip(".")
