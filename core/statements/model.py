"""The statement model: what a partner reads about its period, built from stored data.

``PartnerStatement`` is the one place that derives what the lines imply: the lines grouped in the
order of their kinds' declarations, the subtotal before the cap and budget and what they did to it,
period earnings, what the next tier needs, and the sections plugins recorded (MDF claims).
Every renderer (csv, json, html, terminal) renders it; none adds money up on its own. Which kind is an
adjustment, counts in period earnings or is capped comes from the kinds' ``LineKind`` declarations,
never from their names.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from .. import results
from ..money import round_score, show
from ..results import LineKind, Projection, ScorePart, TierException, exited_label, tier_label
from .facts import (
    PartnerRecord,
    RunRecord,
    StatementSection,
    as_word,
    listed_ids,
    partner_record,
    read_as_word,
    used_metrics,
)

if TYPE_CHECKING:
    from ..program import Program

ZERO = Decimal(0)


@functools.cache
def installed_line_kinds() -> Mapping[str, LineKind]:
    """The line kinds the built-in plugins declare, in declaration order: the fallback for lines stored
    before the ledger recorded each run's kinds (docs/decisions.md)."""
    from ..pluginmanager import Plugins  # here: only statements of an old ledger need the plugins loaded

    return {name: kind for name, (_, kind) in Plugins(entry_points=False).line_kinds().items()}


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


def declared(kinds: Mapping[str, LineKind], name: str) -> LineKind:
    """A kind's declaration; a kind nobody declares (its plugin is gone) counts as a capped earning."""
    found = kinds.get(name)
    return found if found is not None else LineKind(name, name.replace("_", " ").capitalize())


def period_earnings(lines: Iterable[StatementLine], kinds: Mapping[str, LineKind] | None = None) -> Decimal:
    """The sum of a partner's lines in the period whose kind counts in them (MDF left out)."""
    return results.period_earnings(lines, installed_line_kinds() if kinds is None else kinds)


# --- the parts of a statement ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineGroup:
    """The lines of one kind, in stored order."""

    kind: str
    lines: tuple[StatementLine, ...]
    declaration: LineKind | None = None

    @property
    def title(self) -> str:
        if self.declaration is not None:
            return self.declaration.title
        return self.kind.replace("_", " ").capitalize()

    @property
    def adjustment(self) -> bool:
        return self.declaration is not None and self.declaration.adjustment

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)


@dataclass(frozen=True, slots=True)
class Adjustments:
    """From the subtotal of the period's lines to period earnings: the cap, then the budget.

    Each figure sums the lines its kinds' flags put there: ``capped_subtotal`` the lines counting toward
    the per-partner cap (the lines not marked uncapped), ``outside_caps`` the others (clawbacks, approved
    adjustments, plugin lines declared outside the cap), ``budgeted_subtotal`` the lines counting toward
    the program budget (``in_budget``), adjustments and MDF aside in each. The cap is the adjustment kind
    inside the budget, the budget the one outside it (docs/plugins.md, "Rules for money and lines").
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
    budget_scaled: bool | None = None
    """Whether the program budget scaled the program this period; None when the run did not record it."""
    budget_factor: Decimal | None = None
    """The factor it scaled the program by, when it did."""
    capped_lines: int = 0
    """How many of the partner's lines ``capped_subtotal`` sums (the lines the cap sees)."""
    budgeted_subtotal: Decimal = ZERO
    """The lines counting toward the program budget, before the cap: with the cap's line, what the
    budget sees (``before_budget``)."""
    budgeted_lines: int = 0
    """How many of the partner's lines ``budgeted_subtotal`` sums (the cap's line, which the budget also
    sees, is not among them)."""

    @property
    def subtotal(self) -> Decimal:
        """Every line before the cap and the budget, MDF left out."""
        return self.capped_subtotal + self.outside_caps

    @property
    def after_cap(self) -> Decimal:
        """The lines subject to the cap, once capped."""
        return self.capped_subtotal + (self.cap or ZERO)

    @property
    def before_budget(self) -> Decimal:
        """What the program budget sees: the lines counting toward it, the cap's line among them (the cap
        counts in the budget, so the budget sees capped totals)."""
        return self.budgeted_subtotal + (self.cap or ZERO)

    @property
    def after_budget(self) -> Decimal:
        """What the program budget scaled ``before_budget`` to."""
        return self.before_budget + (self.budget or ZERO)

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
            return (
                f"scaled by the program budget from {show(self.before_budget)} to {show(self.after_budget)}"
            )
        if self.budget_scaled and self.budget_factor is not None:
            # the program was scaled; this partner has no budget line: say why, not that nothing was scaled
            scaled = f"the program budget scaled the program by {self.budget_factor:.6f}"
            # the cap's line counts in the budget (the budget sees capped totals): a partner with a cap
            # line has a line subject to it, whatever its other lines are
            if not self.budgeted_lines and self.cap is None:
                return f"{scaled}; none of your lines this period were subject to it"
            if self.before_budget <= 0:
                total = show(self.before_budget)
                # a capped line outside the budget leaves the cap's negative line alone in it: say so
                among = ", the per-partner cap's line among them," if self.cap is not None else ""
                return (
                    f"{scaled}; your lines subject to it{among} add up to {total}, and it scales only a "
                    "positive total"
                )
            return (
                f"{scaled}; your {show(self.before_budget)} subject to it is unchanged once rounded to cents"
            )
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

    @property
    def progress(self) -> Decimal:
        """How far the value is towards what is needed, from 0 to 1 (1 once met)."""
        if self.met:
            return Decimal(1)
        if self.value is None or self.needed <= 0 or self.value <= 0:
            return ZERO
        return min(self.value / self.needed, Decimal(1))


@dataclass(frozen=True, slots=True)
class TierGoal:
    """What a tier needs: its min_score and every ``requires``. ``keep`` is the tier a partner holds
    without being eligible for it, under the demotion grace or, with ``exception_until``, by a tier
    exception; otherwise it is the tier above the assigned one."""

    tier: str
    min_score: Decimal
    score: Decimal
    requirements: tuple[Requirement, ...]
    keep: bool = False
    benefits: tuple[str, ...] | None = None
    """The tier's benefits; None when the run did not record them."""
    exception_until: str | None = None
    """The last period of the tier exception that holds the tier (``keep``); None under the grace."""

    @property
    def score_progress(self) -> Decimal:
        """The score towards the tier's min_score, from 0 to 1."""
        if self.score_met:
            return Decimal(1)
        if self.min_score <= 0 or self.score <= 0:
            return ZERO
        return min(self.score / self.min_score, Decimal(1))

    @property
    def met_count(self) -> int:
        """Conditions met, the min_score among them."""
        return sum(1 for _, met in self.needs() if met)

    def added_benefits(self, held: Sequence[str] | None) -> tuple[str, ...] | None:
        """The tier's benefits the partner's tier (``held``) does not bring; None when not recorded."""
        if self.benefits is None:
            return None
        have = {b.casefold() for b in held or ()}
        return tuple(b for b in self.benefits if b.casefold() not in have)

    @property
    def score_met(self) -> bool:
        return self.score >= self.min_score

    @property
    def unmet(self) -> tuple[Requirement, ...]:
        return tuple(r for r in self.requirements if not r.met)

    def heading(self) -> str:
        if self.keep and self.exception_until is not None:
            return f"To be eligible for {self.tier} (held by exception until {self.exception_until})"
        if self.keep:
            return f"To be eligible for {self.tier} again (held under the demotion grace)"
        return f"Next tier: {self.tier}"

    def needs(self) -> list[tuple[str, bool]]:
        """(sentence, met?) per condition: the min_score first, then every requirement, met or not."""
        if self.score_met:
            score = f"score ≥ {number(self.min_score)}: met ({self.score:.2f})"
        else:
            score = (
                f"score ≥ {number(self.min_score)}: {self.score:.2f} now, "
                f"{number(self.min_score - self.score)} points to go"
            )
        return [(score, self.score_met), *((r.text(), r.met) for r in self.requirements)]


@dataclass(frozen=True, slots=True)
class PeriodTotal:
    """One period of a partner's statements, as its lines add up: period earnings and the lines outside
    them (MDF)."""

    period: str
    earnings: Decimal
    outside_earnings: Decimal

    @property
    def payable(self) -> Decimal:
        return self.earnings + self.outside_earnings


@dataclass(frozen=True, slots=True)
class PartnerStatement:
    """One partner's period: score against targets, tier and what the next one needs, lines in the
    order of their kinds, adjustments and earnings, MDF. Built from a standing, the lines and what the
    run recorded for the statement (or, for a fresh computation, the program)."""

    partner_id: str
    period: str
    name: str | None
    score: Decimal
    eligible: str
    assigned: str
    reason: str
    parts: tuple[ScorePart, ...]
    """Scored metrics with target, weight and fraction; empty when not recorded."""
    other_metrics: tuple[tuple[str, Decimal | None], ...]
    """Metrics the score does not weigh (all of them when the parts are not recorded)."""
    targets_known: bool
    scale: Decimal | None
    score_note: str | None
    """Set when the program's targets do not give the stored score (the program changed since the run)."""
    goals: tuple[TierGoal, ...] | None
    """What the next tier (and a tier held under grace) needs; None when not recorded."""
    top_tier: bool
    groups: tuple[LineGroup, ...]
    """Earning lines and the adjustments, in the order of their kinds."""
    adjustments: Adjustments
    other_groups: tuple[LineGroup, ...] = ()
    """Lines of the kinds outside period earnings (MDF), in the order of their kinds."""
    sections: tuple[StatementSection, ...] = ()
    """What plugins add to the statement (MDF claims), as the run recorded it."""
    standing_recorded: bool = True
    """False for a partner with lines but no standing in the ledger."""
    projections: tuple[Projection, ...] = ()
    """What the partner's open deals would pay if won by the period's end: never paid."""
    deal_names: Mapping[str, str] | None = None
    """Deal id → name, as the run recorded them; None when not recorded."""
    benefits: tuple[str, ...] | None = None
    """What the assigned tier brings beyond money; None when not recorded."""
    periods: tuple[PeriodTotal, ...] = ()
    """The earlier periods the ledger holds lines of for the partner, then this one, oldest first."""
    exception: TierException | None = None
    """The approved tier exception the tier was held by, if any."""
    left_on: date | None = None
    """The day the partner left the program, when it had left by the period's end (it then has no goals
    and no benefits); None when it had not, or when the run did not record it."""
    scored_by: str | None = None
    """The plugin that gave the score, when not the program's scoring section: ``parts`` are its own."""

    @property
    def tier_shown(self) -> str:
        """The tier as people read it: "Exited (was Silver)" once the partner has left, "Gold (exception
        until 2027-Q2: <reason>)" when held by exception."""
        if self.left_on is not None:
            return exited_label(self.assigned)
        return tier_label(self.assigned, self.exception)

    def scored_by_text(self) -> str | None:
        """How the statement says where a plugin's score came from: "given by plugin strategic", with
        "from the parts above" when the plugin gave its parts; None for the program's own score."""
        if self.scored_by is None:
            return None
        parts = ", from the parts above as that plugin weighs them" if self.parts else ""
        return f"given by plugin {self.scored_by}{parts}"

    def left_text(self) -> str | None:
        """What the statement says in place of the benefits and the next tier of a partner that has left;
        None for one that has not."""
        if self.left_on is None:
            return None
        return f"Left the program on {self.left_on.isoformat()}: no tier benefits, no next tier"

    @property
    def earnings(self) -> Decimal:
        return self.adjustments.earnings

    @property
    def outside_earnings(self) -> Decimal:
        """The lines outside period earnings (MDF) paid this period."""
        return sum((g.total for g in self.other_groups), ZERO)

    @property
    def payable(self) -> Decimal:
        """Period earnings plus the lines outside them (MDF): what the partner is paid for the period."""
        return self.earnings + self.outside_earnings

    @property
    def projected(self) -> Decimal:
        """The sum of the projections (withheld ones are 0): what open deals would pay, never paid."""
        return sum((p.amount for p in self.projections), ZERO)

    def projection_note(self) -> str | None:
        """What the statement says beside the projections when the partner's lines of the period already
        reach its per-partner cap: a projection is commission before the caps (the CRM's deal field holds
        it so), and a deal won now would add nothing under the cap. None otherwise."""
        cap = self.adjustments.per_partner_cap
        if not self.projections or cap is None or self.adjustments.after_cap < cap:
            return None
        return f"before the per-partner cap of {show(cap)}, which your lines this period already reach"

    @property
    def year_to_date(self) -> PeriodTotal | None:
        """This period and the earlier ones of its calendar year, summed; None without ``periods``."""
        year = self.period[:4]
        mine = [p for p in self.periods if p.period[:4] == year and p.period <= self.period]
        if not mine:
            return None
        return PeriodTotal(
            f"{year} to date",
            sum((p.earnings for p in mine), ZERO),
            sum((p.outside_earnings for p in mine), ZERO),
        )

    def deal_name(self, deal_id: str) -> str | None:
        return None if self.deal_names is None else self.deal_names.get(deal_id)

    def with_deal_names(self, text: str) -> str:
        """``text`` with the deals' names instead of their CRM ids (``Northwind - Renewal (D1004)`` and
        a bare ``D1004`` both read ``Northwind - Renewal``); text is unchanged when names were not
        recorded."""
        return named_deals(text, self.deal_names or {})

    @property
    def lines(self) -> tuple[StatementLine, ...]:
        """Every line in the order of the groups, those outside period earnings (MDF) last."""
        return tuple(ln for g in (*self.groups, *self.other_groups) for ln in g.lines)

    def lines_of(self, kinds: Sequence[str]) -> tuple[StatementLine, ...]:
        """The lines of these kinds, in group order."""
        return tuple(ln for g in self.other_groups + self.groups if g.kind in kinds for ln in g.lines)

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
        program: Program | None = None,
        parts: Sequence[ScorePart] | None = None,
        name: str | None = None,
        record: PartnerRecord | None = None,
        run: RunRecord | None = None,
        standing_recorded: bool = True,
        projections: Sequence[Projection] = (),
        earlier: Sequence[PeriodTotal] = (),
    ) -> PartnerStatement:
        """From the ledger: ``record`` and ``run`` are what the run recorded (None for rows stored before
        the ledger recorded them: the statement then says "not recorded"). From a program at hand (a
        fresh computation, tests): ``parts`` are the score's own parts, or derived from the program's
        targets when not given. The sections are the record's (``record.sections``). Metrics the
        program neither scores nor ``requires`` are left out (all are shown when that is not recorded)."""
        note = None
        if record is None and program is not None:
            scale = program.scoring.scale if program.scoring else None
            if parts is None:
                parts = score_parts(metrics, program)
                if parts and scale is not None and _score_of(parts, scale) != score:
                    note = (
                        f"the program's targets and weights give a score of {_score_of(parts, scale):.2f}, "
                        f"the ledger holds {score:.2f}: the program may have changed since the run"
                    )
            record = partner_record(program, score, parts, eligible, assigned)
        if run is None and program is not None:
            caps = program.caps
            cap, budget = (caps.per_partner, caps.program_budget) if caps else (None, None)
        elif run is not None:
            cap, budget = run.per_partner_cap, run.program_budget
        else:
            cap = budget = None
        if record is not None and record.own_cap:
            cap = record.per_partner_cap  # computed by another program (a pilot's variant): its cap
        kinds = (
            {k.name: k for k in run.line_kinds}
            if run is not None and run.line_kinds
            else installed_line_kinds()
        )
        recorded_parts = record.parts if record else ()
        scored = {p.metric for p in recorded_parts}
        used: set[str] | None = None
        if run is not None and run.used_metrics is not None:
            used = set(run.used_metrics)
        elif program is not None:
            used = set(used_metrics(program))
        goals = None
        if record is not None and assigned:
            held_by = record.tier_exception  # the exception that lifted the partner to its tier, if any
            goals = tuple(
                TierGoal(
                    g.tier,
                    g.min_score,
                    score,
                    tuple(Requirement(m, needed, metrics.get(m)) for m, needed in g.requires),
                    g.keep,
                    g.benefits,
                    held_by.until if held_by is not None and g.keep and held_by.tier == g.tier else None,
                )
                for g in record.goals
            )
        earning = [ln for ln in lines if declared(kinds, ln.kind).period_earnings]
        adjustments = adjustments_of(
            earning,
            kinds,
            per_partner_cap=cap,
            program_budget=budget,
            budget_scaled=run.budget_scaled if run is not None else None,
            budget_factor=run.budget_factor if run is not None else None,
        )
        outside = [ln for ln in lines if not declared(kinds, ln.kind).period_earnings]
        this = PeriodTotal(period, adjustments.earnings, sum((ln.amount for ln in outside), ZERO))
        return cls(
            partner_id=partner_id,
            period=period,
            name=name,
            score=score,
            eligible=eligible,
            assigned=assigned,
            reason=reason,
            parts=recorded_parts,
            other_metrics=tuple(
                sorted((k, v) for k, v in metrics.items() if k not in scored and (used is None or k in used))
            ),
            targets_known=record is not None,
            scale=record.scale if record else None,
            score_note=note,
            goals=goals,
            top_tier=bool(record and assigned and record.top_tier),
            groups=grouped(earning, kinds),
            adjustments=adjustments,
            other_groups=grouped(outside, kinds),
            sections=record.sections if record else (),
            standing_recorded=standing_recorded,
            exception=record.tier_exception if record else None,
            projections=tuple(projections),
            deal_names=record.deal_names if record else None,
            benefits=record.benefits if record and assigned else None,
            periods=(*earlier, this),
            left_on=record.left_on if record and assigned else None,
            scored_by=record.scored_by if record else None,
        )


# --- deriving the parts ----------------------------------------------------------------------------


def grouped(
    lines: Iterable[StatementLine], kinds: Mapping[str, LineKind] | None = None
) -> tuple[LineGroup, ...]:
    """Lines by kind in the order the kinds are declared (the built-in rules' in SPEC order): the
    earning kinds, then kinds nobody declares (first seen first), then the adjustments (the cap, then
    the budget), then the kinds outside period earnings (MDF). Lines keep their stored order inside a
    kind."""
    known = installed_line_kinds() if kinds is None else kinds
    by_kind: dict[str, list[StatementLine]] = {}
    for line in lines:
        by_kind.setdefault(line.kind, []).append(line)
    earning = [k for k, d in known.items() if d.period_earnings and not d.adjustment]
    unknown = [k for k in by_kind if k not in known]
    adjustments = [k for k, d in known.items() if d.adjustment]
    other = [k for k, d in known.items() if not d.period_earnings and not d.adjustment]
    order = [*earning, *unknown, *adjustments, *other]
    return tuple(LineGroup(k, tuple(by_kind[k]), known.get(k)) for k in order if k in by_kind)


def adjustments_of(
    lines: Iterable[StatementLine],
    kinds: Mapping[str, LineKind] | None = None,
    *,
    per_partner_cap: Decimal | None = None,
    program_budget: Decimal | None = None,
    budget_scaled: bool | None = None,
    budget_factor: Decimal | None = None,
) -> Adjustments:
    """Each line under the step its kind's flags say: an adjustment kind inside the program budget is the
    cap (applied first), one outside it the budget; any other line counts toward the cap unless marked
    uncapped, and toward the budget when its kind is ``in_budget``. Lines outside period earnings (MDF)
    are left out. ``budget_scaled`` and ``budget_factor``: whether and by what factor the budget scaled
    the program, as the run recorded it."""
    known = installed_line_kinds() if kinds is None else kinds
    capped = outside = budgeted = ZERO
    capped_lines = budgeted_lines = 0
    cap: Decimal | None = None
    budget: Decimal | None = None
    for line in lines:
        kind = declared(known, line.kind)
        if not kind.period_earnings:
            continue
        if kind.adjustment and kind.in_budget:
            cap = (cap or ZERO) + line.amount
            continue
        if kind.adjustment:
            budget = (budget or ZERO) + line.amount
            continue
        if line.uncapped:
            outside += line.amount
        else:
            capped += line.amount
            capped_lines += 1
        if kind.in_budget:
            budgeted += line.amount
            budgeted_lines += 1
    return Adjustments(
        capped_subtotal=capped,
        outside_caps=outside,
        cap=cap,
        budget=budget,
        earnings=capped + outside + (cap or ZERO) + (budget or ZERO),
        per_partner_cap=per_partner_cap,
        program_budget=program_budget,
        budget_scaled=budget_scaled,
        budget_factor=budget_factor,
        capped_lines=capped_lines,
        budgeted_subtotal=budgeted,
        budgeted_lines=budgeted_lines,
    )


def score_parts(metrics: Mapping[str, Decimal | None], program: Program) -> tuple[ScorePart, ...]:
    """The score's parts from metric values and a program's targets (SPEC "Score and tier"): for a
    caller holding the program; statements from the ledger use the recorded parts."""
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


def named_deals(text: str, names: Mapping[str, str]) -> str:
    """``text`` with the deals of ``names`` named where it names a deal: ``Name (id)``, as plugins write
    it, becomes ``Name``; a parenthesised list of ids (``(D1, D2 and 3 more)``, a baseline's: two items
    or more) becomes the deals' names when every item is a deal of ``names``; an id with a letter (``read_as_word``) standing
    as a whole word becomes the name. Every other character is left as written: an id of digits never
    touches a number of the text (``share 1``, ``3,499.20``)."""
    present = sorted((i for i in names if i and names[i] and i in text), key=len, reverse=True)
    if not present:
        return text
    full = {f"{names[i]} ({i})": names[i] for i in present}
    words = [as_word(i) for i in present if read_as_word(i)]
    bare = re.compile("|".join(words)) if words else None

    def as_words(part: str) -> str:
        return part if bare is None else bare.sub(lambda m: names[m.group()], part)

    def name(m: re.Match[str]) -> str:
        if m.group("full") is not None:
            return full[m.group("full")]
        if m.group("list") is None:
            return names[m.group()]
        inner = m.group("list")
        items = listed_ids(inner)
        if not items or not all(names.get(i) for i in items):
            return f"({as_words(inner)})"
        return f"({', '.join(names[i] for i in items)}{inner[len(', '.join(items)) :]})"

    pattern = re.compile(
        "|".join(
            [
                "(?P<full>" + "|".join(re.escape(form) for form in sorted(full, key=len, reverse=True)) + ")",
                r"\((?P<list>[^()]*)\)",
                *words,
            ]
        )
    )
    return pattern.sub(name, text)


def number(value: Decimal) -> str:
    """A metric value: two places when it has a fraction, thousands separated (``174,960``, ``0.5``)."""
    if value == value.to_integral_value():
        return f"{value.to_integral_value():,f}"
    rounded = value.quantize(Decimal("0.01"))
    return f"{rounded:,f}".rstrip("0").rstrip(".")
