"""What-if: one period computed under several programs from the same records and the same ledger history,
with nothing stored and nothing written back (``cosell compare``).

Each program goes through the run's own compute step (``cosell.engine.compute``), so every figure is
what a run of that program would store. The records are read once, through a snapshot that keeps a CRM
connector's changes in memory (:class:`cosell.snapshot.ReadThroughSnapshot`), and the ledger is only read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel

from .computation import Computation
from .connector import Connector
from .engine import check_program, compute, pilot_plan
from .errors import ConfigError, Problem, ProgramError
from .governance import ApprovalCheck
from .ledger import Ledger
from .money import round_cents
from .periods import Period
from .pluginmanager import Plugins
from .program import LoadedProgram
from .results import INTERNAL_NOTE, LineKind, PayoutLine, in_basis, tier_shown
from .snapshot import ReadThroughSnapshot

HUNDRED = Decimal(100)
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class ProgramTotals:
    """One program's figures for the period, in the program currency (exact sums of rounded lines)."""

    by_kind: Mapping[str, Decimal]
    """Σ lines per kind, for every kind with a line under any of the programs compared (0 where none)."""
    incentives: Decimal
    """Σ every line: what the period costs under this program (MDF and clawbacks included)."""
    period_earnings: Decimal
    """Σ the partners' period earnings (what the account fields show; MDF left out)."""
    in_budget: Decimal
    """Σ lines of the kinds that count toward the program budget, before the budget scales them."""
    budget: Decimal | None
    won_revenue: Decimal
    """Σ amount × share of the deals won in the period, over their partners."""
    won_margin: Decimal
    """Σ amount × share × margin % of those deals, where the deal has a margin."""
    partners_by_tier: Mapping[str, int]
    """How many partners hold each tier at the period's end; a partner that has left the program by then
    holds none (it keeps its tier's rate for the wind-down only): it is counted in ``exited``."""
    exited: int
    """How many partners had left the program by the period's end (exiting or exited, ``exit_on`` by then)."""

    @property
    def budget_used_pct(self) -> Decimal | None:
        return _percent(self.in_budget, self.budget)

    @property
    def pct_of_won_revenue(self) -> Decimal | None:
        return _percent(self.incentives, self.won_revenue)

    @property
    def pct_of_won_margin(self) -> Decimal | None:
        return _percent(self.incentives, self.won_margin)


@dataclass(frozen=True, slots=True)
class ComparedProgram:
    file: str
    name: str
    totals: ProgramTotals
    notes: tuple[str, ...] = ()
    """What this program's run would say of the approved adjustments and tier exceptions it leaves out:
    those its governance would not have approved (the run's own notes, word for word)."""


@dataclass(frozen=True, slots=True)
class PartnerResult:
    tier: str
    """The tier assigned (an exited partner's is the one whose rate pays its wind-down)."""
    score: Decimal
    earnings: Decimal
    tier_shown: str
    """The tier as the run shows it: "Exited (was Silver)" once the partner has left, "Gold (exception
    until 2027-Q2: <reason>)", or the tier."""


@dataclass(frozen=True, slots=True)
class PartnerComparison:
    """A partner's tier, score and period earnings under each program, in the order given."""

    id: str
    name: str
    results: tuple[PartnerResult, ...]

    @property
    def differences(self) -> tuple[Decimal, ...]:
        """Earnings under each program less earnings under the first (the base): 0 for the base."""
        base = self.results[0].earnings
        return tuple(r.earnings - base for r in self.results)

    @property
    def tier_changes(self) -> bool:
        return len({r.tier for r in self.results}) > 1


@dataclass(frozen=True, slots=True)
class DealTreatment:
    """What one partner's lines on one deal are under one program: their sum and how they are treated
    (``withheld``, the lines' tags such as ``margin_floor``, and the partner-wide lines computed from
    them, such as an accelerator). ``present`` is False when the program gives no line on the deal."""

    amount: Decimal
    treatment: tuple[str, ...]
    present: bool = True


@dataclass(frozen=True, slots=True)
class DealComparison:
    deal_id: str
    deal_name: str
    partner_id: str
    results: tuple[DealTreatment, ...]


@dataclass(frozen=True, slots=True)
class Comparison:
    period: Period
    currency: str
    programs: tuple[ComparedProgram, ...]
    partners: tuple[PartnerComparison, ...]
    deals: tuple[DealComparison, ...]
    """Only the deals (and partners on them) whose treatment differs between the programs."""
    kinds: Mapping[str, LineKind]
    """The kinds in ``ProgramTotals.by_kind``, in the order the plugins declare them."""


# --- reading and computing ----------------------------------------------------------------------------


def compare_programs(
    programs: Sequence[LoadedProgram],
    connector: Connector,
    ledger: Ledger,
    plugins: Plugins,
    *,
    period: Period | None = None,
    settings: Sequence[Mapping[str, BaseModel]] | None = None,
) -> Comparison:
    """Compute ``period`` (default: the first program's) under each program, the first being the base.
    Reads the records once and the ledger's history once; stores nothing, writes nothing back.
    ``settings``: what ``check_program`` returned for each program, when the caller checked already."""
    if len(programs) < 2:
        raise ConfigError(
            "compare needs at least two programs: the base first, then one or more variants",
            hint="give --program twice or more",
        )
    settings = list(settings) if settings is not None else checked_settings(programs, plugins)
    base = programs[0].program
    period = period or base.the_period
    check_comparable(programs)
    ledger.check_runnable(period)  # the periods a run would refuse are refused here too
    ledger.check_currency(base.currency, period.key)  # and a currency other than the ledger's lines'
    history = ledger.history(period)
    records = connector.read(base, ReadThroughSnapshot(ledger))
    # Each program pays only the approvals its own governance would have given, as its run would
    # (docs/governance.md): the same check, of the same history; what it refuses is noted, not stored.
    checks = [ApprovalCheck(loaded.program.governance) for loaded in programs]
    # A program with a pilot computes its test arm by the variant's rules, as its run would
    computations = [
        compute(
            loaded.program,
            period,
            records,
            history.allowing(check),
            plugins,
            program_settings,
            pilot=pilot_plan(loaded, plugins, records, ledger, period),
        )
        for loaded, program_settings, check in zip(programs, settings, checks, strict=True)
    ]
    notes = [tuple(refusal.note() for refusal in check.refused) for check in checks]
    return comparison(programs, computations, plugins.line_kinds(), notes)


def checked_settings(programs: Sequence[LoadedProgram], plugins: Plugins) -> list[Mapping[str, BaseModel]]:
    """Every program checked against the plugins; the problems of all of them in one error."""
    problems: list[Problem] = []
    settings: list[Mapping[str, BaseModel]] = []
    for loaded in programs:
        try:
            settings.append(check_program(loaded, plugins))
        except ProgramError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ProgramError(problems)
    return settings


def check_comparable(programs: Sequence[LoadedProgram]) -> None:
    """Programs compared share the kind of period, the currency and the timezone: their figures are
    set side by side, and the records are read once (dates and amounts must mean the same under each)."""
    base = programs[0]
    problems = []
    for loaded in programs[1:]:
        for key, mine, theirs in (
            ("period", loaded.program.the_period.kind, base.program.the_period.kind),
            ("currency", loaded.program.currency, base.program.currency),
            ("timezone", loaded.program.timezone, base.program.timezone),
        ):
            if mine != theirs:
                what = "kind of period" if key == "period" else key
                problems.append(
                    Problem(
                        loaded.where(key),
                        f"{key}: a program of {mine}s compared with the base program {base.source}, of "
                        f"{theirs}s: programs compared must share one {what}"
                        if key == "period"
                        else f"{key}: {mine}, but the base program {base.source} has {theirs}: "
                        f"programs compared must share one {what}",
                    )
                )
    if problems:
        raise ProgramError(problems)


# --- the figures -------------------------------------------------------------------------------------


def comparison(
    programs: Sequence[LoadedProgram],
    computations: Sequence[Computation],
    declared: Mapping[str, tuple[str, LineKind]],
    notes: Sequence[tuple[str, ...]] | None = None,
) -> Comparison:
    """The figures of computations of one period from the same records, one per program; ``notes``: what
    each program's run would say of the approvals its governance would not have given (none if None)."""
    said = list(notes) if notes is not None else [()] * len(computations)
    used = {line.kind for c in computations for line in c.all_lines()}
    kinds = {name: kind for name, (_, kind) in declared.items() if name in used}
    kinds.update({name: LineKind(name, name) for name in sorted(used - kinds.keys())})
    compared = tuple(
        ComparedProgram(loaded.source, loaded.program.program, _totals(c, kinds), notes)
        for loaded, c, notes in zip(programs, computations, said, strict=True)
    )
    base = computations[0]
    standings = [{s.partner_id: s for s in c.standings} for c in computations]
    end = base.context.period.end
    partners = tuple(
        PartnerComparison(
            facts.id,
            facts.partner.name,
            tuple(
                PartnerResult(
                    by_id[facts.id].tier.assigned,
                    by_id[facts.id].score.value,
                    c.earnings(facts.id),
                    tier_shown(by_id[facts.id].tier, left=facts.partner.left_by(end)),
                )
                for c, by_id in zip(computations, standings, strict=True)
            ),
        )
        for facts in base.facts
    )
    return Comparison(
        base.context.period,
        programs[0].program.currency,
        compared,
        partners,
        _changed_deals(computations),
        kinds,
    )


def _totals(computation: Computation, kinds: Mapping[str, LineKind]) -> ProgramTotals:
    lines = computation.all_lines()
    by_kind = dict.fromkeys(kinds, ZERO)
    for line in lines:
        by_kind[line.kind] += line.amount
    in_budget = sum((ln.amount for ln in lines if kinds[ln.kind].in_budget), ZERO)
    program = computation.context.program
    period = computation.context.period
    won_revenue = won_margin = ZERO
    for facts in computation.facts:
        for pd in facts.deals:
            deal = pd.deal
            if deal.status != "won" or deal.closed_on is None or deal.closed_on not in period:
                continue
            won_revenue += deal.amount * pd.share
            if deal.margin_pct is not None:
                won_margin += deal.amount * pd.share * deal.margin_pct / HUNDRED
    # counted as the run shows them and the report counts them: a partner that has left holds no tier
    tiers = dict.fromkeys((t.name for t in program.tiers), 0)
    exited = 0
    for facts, standing in zip(computation.facts, computation.standings, strict=True):
        if facts.partner.left_by(period.end):
            exited += 1
        else:
            tiers[standing.tier.assigned] = tiers.get(standing.tier.assigned, 0) + 1
    return ProgramTotals(
        by_kind=by_kind,
        incentives=sum(by_kind.values(), ZERO),
        period_earnings=sum((computation.earnings(f.id) for f in computation.facts), ZERO),
        in_budget=in_budget,
        budget=program.caps.program_budget if program.caps else None,
        won_revenue=round_cents(won_revenue),
        won_margin=round_cents(won_margin),
        partners_by_tier=tiers,
        exited=exited,
    )


def _percent(part: Decimal, whole: Decimal | None) -> Decimal | None:
    """part ÷ whole in percent, rounded half-up to 2 decimals; None when there is no whole to divide by."""
    if whole is None or whole == 0:
        return None
    return round_cents(part * HUNDRED / whole)


def _changed_deals(computations: Sequence[Computation]) -> tuple[DealComparison, ...]:
    treatments = [_treatments(c) for c in computations]
    names = {deal.id: deal.name for c in computations for deal in c.context.records.deals}
    keys = sorted({key for t in treatments for key in t})
    missing = DealTreatment(ZERO, (), present=False)
    changed = []
    for key in keys:
        results = tuple(t.get(key, missing) for t in treatments)
        if len({(r.present, r.treatment) for r in results}) > 1:
            deal_id, partner_id = key
            changed.append(DealComparison(deal_id, names.get(deal_id, ""), partner_id, results))
    return tuple(changed)


def _treatments(computation: Computation) -> dict[tuple[str, str], DealTreatment]:
    """(deal, partner) → the partner's lines on the deal under this program, and their treatment."""
    out: dict[tuple[str, str], DealTreatment] = {}
    for partner_id, lines in computation.lines.items():
        partner_wide = [ln for ln in lines if ln.deal_id is None]
        by_deal: dict[str, list[PayoutLine]] = {}
        for line in lines:
            if line.deal_id is not None:
                by_deal.setdefault(line.deal_id, []).append(line)
        for deal_id, deal_lines in by_deal.items():
            words: set[str] = set()
            for line in deal_lines:
                words |= _words(line)
                words |= {wide.kind for wide in partner_wide if in_basis(line, wide)}
            amount = sum((ln.amount for ln in deal_lines), ZERO)
            out[deal_id, partner_id] = DealTreatment(amount, tuple(sorted(words)))
    return out


def _words(line: PayoutLine) -> set[str]:
    """How a deal line is treated: withheld, and its plain tags (tags carrying a value, ``name:value``,
    and internal notes are data, not treatment)."""
    words = {tag for tag in line.tags if ":" not in tag and not tag.startswith(INTERNAL_NOTE)}
    if line.withheld:
        words.add("withheld")
    return words
