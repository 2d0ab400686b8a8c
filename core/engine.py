"""The run, top to bottom, as its named steps:

    validate → lock → load → history → compute → plan → store → write back → finish

``compute`` is pure (no I/O, no clock): convert and group the records (``cosell.facts``), then per
partner metrics → score → tier → payout lines → projections, then the adjustments over all partners
(caps, then budget). ``plan`` is the write-back planner (``cosell.writeback``); ``write back`` sends
the outbox (``cosell.outbox``). Data flows forward as immutable records and lines; no step reaches
back into an earlier one. Hooks are called per partner, so their number grows with partners, not deals.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import itertools
import reprlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel

from .computation import Computation, Progress, Silent
from .connector import (
    Connector,
    FieldValues,
    FieldWrite,
    LeavesOutClaims,
    Notes,
    ReadsFresh,
    RecordKey,
    ShowsProgress,
    claims_left_out_note,
    target_of,
)
from .context import PartnerFacts, PartnerRow, RunContext, RunReport
from .errors import FinishedWithFailures, PluginError, Problem, ProgramError
from .facts import convert, group_by_partner, resolve_involvements
from .gc_pause import gc_paused
from .governance import ApprovalCheck, Refusal
from .merges import aliases, merged
from .money import MAX_AMOUNT, amount_problem, from_cents, round_cents, round_score, show
from .outbox import write_pending
from .periods import Period
from .pilots import PilotPlan, carried_to_merged, earlier_arms, stored_arms, with_pilot
from .pilots import plan as pilot_plan_of
from .pluginmanager import Plugins, guarded, plugin_failure
from .program import LoadedProgram, Program
from .records import Involvement, Partner, RecordSet
from .report import facts as report_facts
from .results import (
    History,
    LineKind,
    MetricDefinition,
    PartnerStanding,
    PayoutLine,
    Projection,
    Score,
    TierDecision,
    TierException,
    frozen_mapping,
    paid_adjustments,
    tier_shown,
)
from .runrecords import RunProvenance, digest_alongside, provenance
from .statements import facts as statement_facts
from .tier_exceptions import held_by_exception, with_previous
from .writeback import (
    changed_writes,
    each_planned_write,
    former_deal_writes,
    former_partner_writes,
    planned_keys,
)

if TYPE_CHECKING:
    from .ledger import Ledger


# --- validate --------------------------------------------------------------------------------------


def check_program(loaded: LoadedProgram, plugins: Plugins) -> dict[str, BaseModel]:
    """Program checks that need the plugins: metric names and plugin settings, the pilot's variant's
    too. Returns the program's settings."""
    definitions = plugins.metric_definitions()
    program = loaded.program
    problems: list[Problem] = []
    known = ", ".join(sorted(definitions))
    if program.scoring:
        for name in program.scoring.metrics:
            if name not in definitions:
                problems.append(
                    Problem(
                        loaded.where("scoring", "metrics", name),
                        f"scoring.metrics.{name}: no plugin provides this metric (known: {known})",
                    )
                )
    for i, tier in enumerate(program.tiers):
        for name in tier.requires:
            if name not in definitions:
                problems.append(
                    Problem(
                        loaded.where("tiers", i, "requires", name),
                        f"tiers[{i}].requires.{name}: no plugin provides this metric (known: {known})",
                    )
                )
    try:
        settings = plugins.validate_settings(loaded)
    except ProgramError as err:
        problems.extend(err.problems)
        settings = {}
    if loaded.variant is not None:  # a pilot's variant: checked with its program
        try:
            check_program(loaded.variant, plugins)
        except ProgramError as err:
            problems.extend(err.problems)
    if problems:
        raise ProgramError(problems)
    return settings


@contextlib.contextmanager
def settings_named(loaded: LoadedProgram, plugins: Plugins) -> Iterator[None]:
    """A PluginError raised inside names the failing plugin's ``plugins:`` entry (file and line), when
    the program has one: the settings it computed with."""
    try:
        yield
    except PluginError as exc:
        keys = [key for key, (owner, _) in plugins.settings_models().items() if owner == exc.plugin]
        given = [key for key in keys if key in loaded.program.plugins]
        if not given:
            raise
        where = ", ".join(f"plugins.{key} at {loaded.where('plugins', key)}" for key in given)
        error = PluginError(
            exc.plugin, exc.message, hint="; ".join(filter(None, [exc.hint, f"its settings: {where}"]))
        )
        error.causes = exc.causes
        raise error from exc


# --- compute ---------------------------------------------------------------------------------------


def compute(
    program: Program,
    period: Period,
    records: RecordSet,
    history: History,
    plugins: Plugins,
    settings: Mapping[str, BaseModel] | None = None,
    progress: Progress | None = None,
    pilot: PilotPlan | None = None,
) -> Computation:
    """Records (already validated) to standings, lines and projections. Pure: no I/O, no clock.

    Under a ``pilot``, the partners of its test arm are computed with the variant's program and plugin
    settings, every other with ``program``; the adjustments (caps, then budget) run once over all of
    them (``RunContext.program_of`` gives a partner's program)."""
    # The step allocates millions of small objects and makes no reference cycles: the cyclic garbage
    # collector would only rescan the records again and again (it doubled the time on a million deals).
    try:
        with gc_paused():
            return _compute(program, period, records, history, plugins, settings, progress or Silent(), pilot)
    except PluginError as exc:
        if exc.hint is None and exc.plugin != "cosell" and not exc.causes:  # an exception names its line
            raise PluginError(
                exc.plugin, exc.message, hint=f"defined in {plugins.source(exc.plugin)}"
            ) from exc
        raise


@dataclass(frozen=True, slots=True)
class _Hooks:
    """The implementations of the per-partner hooks, in call order, looked up once per run."""

    declared_metrics: Mapping[str, str]
    metrics: Sequence[tuple[str, Any]]
    score: Sequence[tuple[str, Any]]
    tier: Sequence[tuple[str, Any]]
    payout_lines: Sequence[tuple[str, Any]]
    projections: Sequence[tuple[str, Any]]
    lines_check: _LineCheck

    @classmethod
    def of(cls, plugins: Plugins, lines_check: _LineCheck) -> _Hooks:
        return cls(
            {name: plugin for name, (plugin, _) in plugins.metric_definitions().items()},
            plugins.implementations("cosell_metrics"),
            plugins.implementations("cosell_score"),
            plugins.implementations("cosell_tier"),
            plugins.implementations("cosell_payout_lines"),
            plugins.implementations("cosell_projections"),
            lines_check,
        )


def _compute(
    program: Program,
    period: Period,
    records: RecordSet,
    history: History,
    plugins: Plugins,
    settings: Mapping[str, BaseModel] | None,
    progress: Progress,
    pilot: PilotPlan | None = None,
) -> Computation:
    records, history = merged(convert(records, program), history)
    records = _crm_tiers_first_read(records, history)
    facts, not_joined = _joined_by(group_by_partner(records), period)
    kinds = plugins.line_kinds()
    context = RunContext(
        program,
        period,
        history,
        records,
        MappingProxyType(dict(settings or {})),
        MappingProxyType({name: kind for name, (_, kind) in kinds.items()}),
        pilot.variant if pilot else None,
        pilot.cohort if pilot else frozenset(),
    )
    variant = (
        None
        if pilot is None
        else dataclasses.replace(
            context, program=pilot.variant, settings=MappingProxyType(dict(pilot.variant_settings))
        )
    )
    deal_ids = frozenset(deal.id for deal in records.deals)
    hooks = _Hooks.of(
        plugins, _LineCheck(kinds, deal_ids, {partner.id: partner for partner in facts}, history)
    )
    for _ in plugins.call_each("cosell_run_started", context=context):
        pass
    standings: list[PartnerStanding] = []
    lines: dict[str, tuple[PayoutLine, ...]] = {}
    projections: list[Projection] = []
    scored_by: dict[str, str] = {}
    advance = progress.step("computing partners", len(facts))
    for partner in facts:
        arm = variant if variant is not None and partner.id in variant.cohort else context
        metrics = frozen_mapping(_metrics(hooks, partner, arm))  # read-only: no hook changes another's
        scorer, score = _score(hooks, partner, metrics, arm)
        if not plugins.builtin(scorer):
            scored_by[partner.id] = scorer
        tier = _tier(hooks, partner, score, metrics, arm)
        standing = PartnerStanding(partner.id, metrics, score, tier, partner.partner.name)
        standings.append(standing)
        lines[partner.id] = _payout_lines(hooks, partner, standing, arm)
        projections.extend(_projections(hooks, partner, standing, arm))
        advance(1)
    _adjustments(plugins, kinds, hooks.lines_check, lines, context)
    return Computation(
        context,
        facts,
        tuple(standings),
        lines,
        tuple(projections),
        pilot,
        variant,
        MappingProxyType(scored_by),
        not_joined,
    )


def _joined_by(
    facts: Sequence[PartnerFacts], period: Period
) -> tuple[tuple[PartnerFacts, ...], tuple[Partner, ...]]:
    """The partners in the period's run (their ``joined_on`` on or before its last day), and those left
    out of it: a partner not yet in the program has no score, tier or lines in a period before it joined
    (its deals there, whatever their shares, pay it nothing; the other partners keep their own shares)."""
    joined: list[PartnerFacts] = []
    later: list[Partner] = []
    for partner in facts:
        if _in_run(partner.partner, period):
            joined.append(partner)
        else:
            later.append(partner.partner)
    return tuple(joined), tuple(later)


def _in_run(partner: Partner, period: Period) -> bool:
    """True when the partner is in the period's run: it joined on or before the period's last day."""
    return partner.joined_on <= period.end


def _metrics(hooks: _Hooks, partner: PartnerFacts, context: RunContext) -> dict[str, Decimal | None]:
    metrics: dict[str, Decimal | None] = {}
    kwargs = {"partner": partner, "context": context}
    for plugin, call in hooks.metrics:
        produced = guarded(plugin, "cosell_metrics", call, kwargs)
        metrics.update(_checked_metrics(plugin, produced, hooks.declared_metrics, partner.id))
    return metrics


def _score(
    hooks: _Hooks, partner: PartnerFacts, metrics: Mapping[str, Decimal | None], context: RunContext
) -> tuple[str, Score]:
    """The score and the plugin that gave it."""
    kwargs = {"partner": partner, "metrics": metrics, "context": context}
    plugin, score = _answered(hooks.score, "cosell_score", kwargs, Score)
    scoring = context.program.scoring
    return plugin, _checked_score(plugin, score, partner.id, scoring.scale if scoring is not None else None)


MAX_SCORE = Decimal(10) ** 15
"""The largest score a plugin may give when the program has no ``scoring`` section (so no scale)."""


def _checked_score(plugin: str, score: Score, partner_id: str, scale: Decimal | None) -> Score:
    """A score is a finite Decimal (or an int) from 0 to the program's ``scoring.scale`` (``MAX_SCORE``
    without a scoring section); like the built-in one, it is rounded half-up to 2 decimals (75.125 is
    75.13), and the scale with it (the built-in score of a partner reaching every target on a scale of
    99.995 is 100.00). A score outside is refused, naming the plugin and the partner: the tiers'
    ``min_score`` and the statements ("75.00 of 100") read it on the program's scale."""
    value: object = score.value
    if isinstance(value, int) and not isinstance(value, bool):
        value = Decimal(value)
    if type(value) is not Decimal:
        raise PluginError(
            plugin,
            f"cosell_score for partner {partner_id!r}: the score is {type(value).__name__} {value!r}, "
            "not a Decimal",
        )
    if not value.is_finite() or value < 0 or value > MAX_SCORE:
        raise PluginError(
            plugin,
            f"cosell_score for partner {partner_id!r}: a score of {value} is not one cosell keeps "
            f"(a Decimal from 0 to {MAX_SCORE:,})",
        )
    rounded = round_score(value)
    if scale is not None and rounded > round_score(scale):
        raise PluginError(
            plugin,
            f"cosell_score for partner {partner_id!r}: a score of {value} is above the program's "
            f"scoring.scale of {scale}; a score is from 0 to the scale: score on it, or set scoring.scale "
            "to the scale the plugin scores on",
        )
    return score if rounded == value and value is score.value else dataclasses.replace(score, value=rounded)


def _crm_tiers_first_read(records: RecordSet, history: History) -> RecordSet:
    """The records with each partner's ``crm_tier`` as the first stored run that read the partner found
    it, when one did: the field may hold since what cosell wrote there, and a partner's starting tier is
    never cosell's own (a rerun of the period gives what its first run gave on the same records)."""
    recorded = history.crm_tiers
    if not recorded:
        return records
    changed = False
    partners = []
    for partner in records.partners:
        if partner.id in recorded and recorded[partner.id] != partner.crm_tier:
            partner = dataclasses.replace(partner, crm_tier=recorded[partner.id])
            changed = True
        partners.append(partner)
    return dataclasses.replace(records, partners=tuple(partners)) if changed else records


def _tier(
    hooks: _Hooks,
    partner: PartnerFacts,
    score: Score,
    metrics: Mapping[str, Decimal | None],
    context: RunContext,
) -> TierDecision:
    kwargs = {"partner": partner, "score": score, "metrics": metrics, "context": context}
    plugin, tier = _answered(hooks.tier, "cosell_tier", kwargs, TierDecision)
    if context.program.tier(tier.assigned) is None or context.program.tier(tier.eligible) is None:
        raise PluginError(
            plugin, f"cosell_tier chose a tier the program does not have for partner {partner.id!r}: {tier}"
        )
    # approved tier exceptions hold whichever plugin decided the tier
    return held_by_exception(with_previous(cast(TierDecision, tier), partner, context), partner, context)


def _payout_lines(
    hooks: _Hooks, partner: PartnerFacts, standing: PartnerStanding, context: RunContext
) -> tuple[PayoutLine, ...]:
    """Each implementation sees the lines of those called before it (the accelerator reads commission)."""
    lines: tuple[PayoutLine, ...] = ()
    for plugin, call in hooks.payout_lines:
        kwargs = {"partner": partner, "standing": standing, "lines": lines, "context": context}
        produced = guarded(plugin, "cosell_payout_lines", call, kwargs)
        lines += hooks.lines_check(plugin, "cosell_payout_lines", produced, partner.id)
    return lines


def _projections(
    hooks: _Hooks, partner: PartnerFacts, standing: PartnerStanding, context: RunContext
) -> list[Projection]:
    projections: list[Projection] = []
    kwargs = {"partner": partner, "standing": standing, "context": context}
    for plugin, call in hooks.projections:
        produced = guarded(plugin, "cosell_projections", call, kwargs)
        projections.extend(_checked_projections(plugin, produced, partner, hooks.lines_check.deal_ids))
    return projections


def _adjustments(
    plugins: Plugins,
    kinds: Mapping[str, tuple[str, LineKind]],
    lines_check: _LineCheck,
    lines: dict[str, tuple[PayoutLine, ...]],
    context: RunContext,
) -> None:
    """Caps, then budget: each implementation sees every partner's lines with the earlier adjustments."""
    for plugin, call in _adjustment_order(plugins.implementations("cosell_adjustments"), kinds):
        produced = guarded(plugin, "cosell_adjustments", call, {"lines": dict(lines), "context": context})
        for line in lines_check(plugin, "cosell_adjustments", produced, None):
            if line.partner_id not in lines:
                raise PluginError(
                    plugin, f"cosell_adjustments returned a line for unknown partner {line.partner_id!r}"
                )
            lines[line.partner_id] += (line,)


def _adjustment_order(
    impls: Sequence[tuple[str, Any]], kinds: Mapping[str, tuple[str, LineKind]]
) -> list[tuple[str, Any]]:
    """``cosell_adjustments`` implementations in pluggy's order, except for the two limits, whatever the
    others' ``tryfirst``/``trylast`` marks. The plugin of the per-partner cap step (an adjustment kind
    inside the program budget) comes after every plugin that declares a kind counting toward the cap, so
    the cap counts every capped line, those such a plugin adds here too; a plugin of uncapped kinds keeps
    its place (after the cap unless ``tryfirst``). The plugin of the program budget step (an adjustment
    kind outside the budget) comes last: the budget sees the final capped totals, and no line comes after it."""
    budget = {plugin for plugin, kind in kinds.values() if kind.adjustment and not kind.in_budget}
    cap = {plugin for plugin, kind in kinds.values() if kind.adjustment and kind.in_budget} - budget
    capped = {plugin for plugin, kind in kinds.values() if kind.capped} - cap - budget
    at = next((i for i, (plugin, _) in enumerate(impls) if plugin in cap), len(impls))

    def step(i: int) -> int:
        plugin = impls[i][0]
        if plugin in budget:
            return 3
        if plugin in cap:
            return 1
        return 0 if i < at or plugin in capped else 2

    return [impls[i] for i in sorted(range(len(impls)), key=step)]


def _answered(
    impls: Sequence[tuple[str, Any]], hook: str, kwargs: Mapping[str, Any], kind: type
) -> tuple[str, Any]:
    """The first answer to ``hook`` that is not None, and the plugin that gave it."""
    for plugin, call in impls:
        result = guarded(plugin, hook, call, kwargs)
        if result is not None:
            if not isinstance(result, kind):
                raise PluginError(plugin, f"{hook} returned {type(result).__name__}, not a {kind.__name__}")
            return plugin, result
    raise PluginError("cosell", f"no plugin answered {hook}")


def _checked_metrics(
    plugin: str, values: Any, declared: Mapping[str, str], partner_id: str
) -> Mapping[str, Decimal | None]:
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise PluginError(
            plugin, f"cosell_metrics returned {type(values).__name__}, not a mapping of metric to value"
        )
    out: dict[str, Decimal | None] = {}
    for name, value in values.items():
        if declared.get(name) != plugin:
            raise PluginError(
                plugin,
                f"cosell_metrics returned metric {name!r}, which it does not declare in cosell_metric_definitions"
                + (f" (plugin {declared[name]!r} does)" if name in declared else ""),
            )
        if isinstance(value, Decimal) and not value.is_finite():
            raise PluginError(
                plugin,
                f"metric {name!r} is {value} for partner {partner_id!r}; give a finite Decimal, or None "
                "when undefined",
            )
        if value is None or isinstance(value, Decimal):
            out[name] = value
        elif isinstance(value, int) and not isinstance(value, bool):
            out[name] = Decimal(value)
        else:
            raise PluginError(
                plugin,
                f"metric {name!r} is {type(value).__name__} {value!r} for partner {partner_id!r}; give a "
                "Decimal, an int or None",
            )
    return out


class _LineCheck:
    """Checks every line a plugin returns: a PayoutLine of a kind the plugin itself declared, a Decimal
    rounded to cents, a one-line explanation, a deal of the run's records. Sets ``uncapped`` from the
    kind's declaration, so the ledger keeps the treatment the line was computed with. A line of a
    ``deal_incentive`` kind names a deal its partner is on: it is shown on that deal in the CRM. A line
    of a kind that ``reverses`` may also name a deal the partner is no longer on but was paid on in an
    earlier period (a clawback of a partner taken off a refunded deal)."""

    def __init__(
        self,
        kinds: Mapping[str, tuple[str, LineKind]],
        deal_ids: frozenset[str],
        partners: Mapping[str, PartnerFacts] | None = None,
        history: History | None = None,
    ) -> None:
        self.kinds = kinds
        self.deal_ids = deal_ids
        self.partners = partners or {}
        self.history = history
        self._deals_of: tuple[str, frozenset[str]] | None = None  # the last partner asked, its deals

    def partner_deals(self, partner_id: str) -> frozenset[str] | None:
        """The deals ``partner_id`` is on (None for a partner not among the records), kept for the
        partner last asked: its hooks' lines are checked one after the other."""
        if self._deals_of is None or self._deals_of[0] != partner_id:
            facts = self.partners.get(partner_id)
            if facts is None:
                return None
            self._deals_of = (partner_id, frozenset(on.deal.id for on in facts.deals))
        return self._deals_of[1]

    def paid_before(self, partner_id: str, deal_id: str) -> bool:
        """Whether an earlier period paid ``partner_id`` a line of a deal incentive on ``deal_id``
        (asked only of a reversing line on a deal the partner is no longer on: rare)."""
        history = self.history
        if history is None:
            return False
        return any(
            deal_id in history.paid_deal_ids(partner_id, name)
            for name, (_, kind) in self.kinds.items()
            if kind.deal_incentive and not kind.reverses
        )

    def __call__(
        self, plugin: str, hook: str, produced: Any, partner_id: str | None
    ) -> tuple[PayoutLine, ...]:
        if produced is None:
            return ()
        # A mapping or a text is iterable, but its keys or characters are no lines.
        if isinstance(produced, PayoutLine | Mapping | str | bytes) or not isinstance(produced, Iterable):
            raise PluginError(
                plugin,
                f"{hook} returned {type(produced).__name__} {reprlib.repr(produced)}, not a list of PayoutLine",
            )
        return tuple(self._checked(plugin, hook, line, partner_id) for line in produced)

    def _checked(self, plugin: str, hook: str, produced: object, partner_id: str | None) -> PayoutLine:
        if not isinstance(produced, PayoutLine):
            raise PluginError(
                plugin, f"{hook} returned {type(produced).__name__} {produced!r}, not a PayoutLine"
            )
        line = produced
        if not isinstance(line.kind, str):
            raise PluginError(plugin, f"{hook}: a line's kind is {type(line.kind).__name__}, not text")
        owner, kind = self.kinds.get(line.kind, (None, None))
        if kind is None:
            raise PluginError(
                plugin,
                f"{hook}: returned a line of kind {line.kind!r}, which it does not declare "
                "(declare it in cosell_line_kinds)",
            )
        if owner != plugin:
            raise PluginError(
                plugin,
                f"{hook}: returned a line of kind {line.kind!r}, which belongs to plugin {owner!r}; "
                "a plugin produces only the kinds it declares in cosell_line_kinds",
            )
        what = _line_text(line)
        if not isinstance(line.amount, Decimal):
            raise PluginError(
                plugin,
                f"{hook}: the amount of {what} is {type(line.amount).__name__} {line.amount!r}, not Decimal",
            )
        if not line.amount.is_finite() or abs(line.amount) > MAX_LINE:
            raise PluginError(plugin, f"{hook}: {what} of {line.amount} is not an amount the ledger can keep")
        if round_cents(line.amount) != line.amount:
            raise PluginError(
                plugin,
                f"{hook}: {what} of {line.amount} is not rounded to cents (use cosell.money.round_cents)",
            )
        if not isinstance(line.explanation, str):
            raise PluginError(
                plugin,
                f"{hook}: {what}: explanation is {type(line.explanation).__name__}, not text",
            )
        if not line.explanation.strip():
            raise PluginError(plugin, f"{hook}: {what} has no explanation")
        if line.explanation.splitlines() != [line.explanation]:
            raise PluginError(plugin, f"{hook}: {what}: explanation spans several lines; give one line")
        if partner_id is not None and line.partner_id != partner_id:
            raise PluginError(
                plugin,
                f"{hook}: returned a line for partner {line.partner_id!r} while computing {partner_id!r}",
            )
        if line.deal_id is not None and line.deal_id not in self.deal_ids:
            raise PluginError(
                plugin,
                f"{hook}: {_line_text(line, deal=False)} names deal {line.deal_id!r}, which is not among "
                "the run's deals",
            )
        if line.deal_id is not None and kind.deal_incentive and isinstance(line.partner_id, str):
            on = self.partner_deals(line.partner_id)
            if (
                on is not None  # an unknown partner is refused by its caller
                and line.deal_id not in on
                and not (kind.reverses and self.paid_before(line.partner_id, line.deal_id))
            ):
                raise PluginError(
                    plugin,
                    f"{hook}: a {line.kind!r} line names deal {line.deal_id!r}, which partner "
                    f"{line.partner_id!r} is not on",
                )
        if not isinstance(line.withheld, bool):
            raise PluginError(
                plugin,
                f"{hook}: {what}: withheld is {type(line.withheld).__name__} "
                f"{line.withheld!r}; give True or False",
            )
        if line.withheld and line.amount != 0:
            raise PluginError(
                plugin,
                f"{hook}: {what} is withheld with an amount of {line.amount}; a withheld line is a line "
                "of 0 kept for its reason (give 0, or withheld=False to pay it)",
            )
        if not isinstance(line.tags, (set, frozenset)) or not all(isinstance(t, str) for t in line.tags):
            raise PluginError(
                plugin,
                f"{hook}: {what}: tags are {type(line.tags).__name__} {line.tags!r}; "
                'give a frozenset of text, e.g. frozenset({"welcome:paid"})',
            )
        if type(line.tags) is not frozenset:
            line = dataclasses.replace(line, tags=frozenset(line.tags))
        if line.uncapped != (not kind.capped):
            line = dataclasses.replace(line, uncapped=not kind.capped)
        return line


def _line_text(line: PayoutLine, *, deal: bool = True) -> str:
    """A line as the errors on it name it: its kind, its partner and (``deal``) its deal."""
    on = f" on deal {line.deal_id!r}" if deal and line.deal_id is not None else ""
    return f"a {line.kind!r} line for partner {line.partner_id!r}{on}"


MAX_LINE = MAX_AMOUNT
"""The largest amount a line or projection may hold (``cosell.money.MAX_AMOUNT``)."""


def _checked_projections(
    plugin: str, produced: Any, partner: PartnerFacts, deal_ids: frozenset[str]
) -> list[Projection]:
    """What a plugin projects for ``partner``, checked as its lines are: projections of that partner, on
    deals of the run the partner is on, a Decimal amount rounded to cents within the ledger's bound, a
    one-line explanation and a bool ``withheld``."""
    hook = "cosell_projections"
    if produced is not None and (isinstance(produced, Projection) or not isinstance(produced, Iterable)):
        raise PluginError(
            plugin, f"{hook} must return an iterable of Projection, not {type(produced).__name__}"
        )
    partner_deals = {on.deal.id for on in partner.deals}
    out = []
    for item in produced or ():
        if not isinstance(item, Projection):
            raise PluginError(plugin, f"{hook} returned {type(item).__name__}, not a Projection")
        if item.partner_id != partner.id:
            raise PluginError(
                plugin,
                f"{hook}: returned a projection for partner {item.partner_id!r} while computing {partner.id!r}",
            )
        if not isinstance(item.deal_id, str) or item.deal_id not in deal_ids:
            raise PluginError(
                plugin,
                f"{hook}: a projection names deal {item.deal_id!r}, which is not among the run's deals",
            )
        if item.deal_id not in partner_deals:
            raise PluginError(
                plugin,
                f"{hook}: a projection names deal {item.deal_id!r}, which partner {partner.id!r} is not on",
            )
        problem = amount_problem(item.amount, cents=True)  # what lines are held to (_LineCheck)
        if problem is not None:
            raise PluginError(plugin, f"{hook}: deal {item.deal_id!r}'s projected amount {problem}")
        if not isinstance(item.explanation, str) or not item.explanation.strip():
            raise PluginError(plugin, f"{hook}: deal {item.deal_id!r}'s projection has no explanation text")
        if item.explanation.splitlines() != [item.explanation]:
            raise PluginError(
                plugin,
                f"{hook}: deal {item.deal_id!r}'s projection explanation spans several lines; give one line",
            )
        if not isinstance(item.withheld, bool):
            raise PluginError(
                plugin,
                f"{hook}: deal {item.deal_id!r}'s projection withheld is {item.withheld!r}; give True or False",
            )
        out.append(item)
    return out


# --- the whole run ---------------------------------------------------------------------------------


def run(
    loaded: LoadedProgram,
    connector: Connector,
    ledger: Ledger,
    plugins: Plugins,
    *,
    period: Period | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    lock_wait_seconds: float = 10.0,
    settings: Mapping[str, BaseModel] | None = None,
) -> RunReport:
    """Sync, compute, store and write back one period. Raises a CosellError subclass on failure; nothing
    is stored when computing fails, and an interrupted write-back resumes on the next run.

    ``settings`` are the plugin settings ``check_program`` returned, when the caller checked already."""
    program, progress = loaded.program, progress or Silent()
    period = period or program.the_period
    settings = _validate(loaded, plugins, ledger, period, settings, dry_run=dry_run)
    # Every step builds or reads back objects by the record (writes, outbox rows, file rows), none in
    # cycles: the cyclic collector's passes over the run's records would only cost time (see compute).
    # The steps run in a function of their own, so that its records are freed (by reference counting)
    # before the collector runs again: it never scans them.
    with _lock(ledger, period, lock_wait_seconds, dry_run=dry_run), gc_paused():
        report = _steps(
            loaded,
            period,
            connector,
            ledger,
            plugins,
            settings,
            progress,
            dry_run=dry_run,
            wait=lock_wait_seconds,
        )
        if _KEPT:  # never to be collected: the collector need not scan them again once enabled
            gc.freeze()
        return report


_KEPT: list[object] = []
"""What runs left to free when the process exits (see :func:`keep_until_exit`)."""
_keeping = False


def keep_until_exit(keep: bool = True) -> None:
    """Keep each run's records, lines and writes until the process exits instead of freeing them object
    by object as the run returns: the ``cosell`` command does, then ends its process at once
    (``os._exit``), so a million deals cost no seconds of freeing after the run is done. ``False`` frees
    what was kept."""
    global _keeping
    _keeping = keep
    if not keep and _KEPT:
        _KEPT.clear()
        gc.unfreeze()


def kept() -> bool:
    """Whether a run left its objects to be freed by the process's exit."""
    return bool(_KEPT)


def _steps(
    loaded: LoadedProgram,
    period: Period,
    connector: Connector,
    ledger: Ledger,
    plugins: Plugins,
    settings: Mapping[str, BaseModel],
    progress: Progress,
    *,
    dry_run: bool,
    wait: float = 10.0,
) -> RunReport:
    """load → history → compute → plan → store → write back → finish, with the period held, and the
    target held from planning against what it holds to sending (``Ledger.hold_target``)."""
    program = loaded.program
    started = datetime.now(UTC)  # before the history is read: what `cosell runs` says the run started
    # Writes another run sends from here on may land after the read below saw the records: planning
    # reads them again from the target (``_current_values``).
    mark = ledger.outbox_mark(target_of(connector))
    records = _load(connector, program, ledger, progress)
    target = contextlib.ExitStack()
    # The records digest the run records is taken alongside computing (on the other core, where the
    # system forks cheaply): it reads only the records, which nothing changes once read.
    # The run pays only what its own program's governance would have approved (docs/governance.md).
    check = ApprovalCheck(program.governance)
    with target, digest_alongside(records, start=not dry_run) as digest:
        generation, history = _history(ledger, period, check)
        pilot = pilot_plan(loaded, plugins, records, ledger, period)
        with settings_named(loaded, plugins):
            computation = compute(program, period, records, history, plugins, settings, progress, pilot)
        if not dry_run:
            target.enter_context(ledger.hold_target(target_of(connector), wait))
        changes = _plan(computation, connector, ledger, progress, mark)
        # before the run replaces the period's lines: partners no longer read, adjustments withdrawn since
        left = (
            _not_joined_notes(computation)
            + _partners_left(ledger, computation, changes)
            + ledger.withdrawn_notes(period)
        )
        if dry_run:
            notes = (pilot.notes(program) if pilot else ()) + left
            notes += _governance_notes(ledger, computation, check.refused)
            return RunReport(period.key, None, True, _partner_rows(computation), tuple(changes), notes=notes)
        recorded = provenance(loaded, plugins, records, computation, digest=digest)
        target = target.pop_all()  # held on, to the end of the write-back
    # The records as read: the computation holds them converted; a million deals need not be kept twice.
    del records, digest
    with target:
        run_id = _store(
            ledger,
            plugins,
            computation,
            changes,
            connector,
            generation,
            recorded,
            progress,
            started,
            check.refused,
        )
        written, failures = write_pending(
            connector, ledger, target_of(connector), progress, (run_id, changes)
        )
    if _keeping:
        _KEPT.append((computation, changes, history))
    return _finish(
        ledger, plugins, connector, computation, run_id, changes, written, failures, left, check.refused
    )


def _validate(
    loaded: LoadedProgram,
    plugins: Plugins,
    ledger: Ledger,
    period: Period,
    settings: Mapping[str, BaseModel] | None,
    *,
    dry_run: bool,
) -> Mapping[str, BaseModel]:
    """The program against the plugins, the ledger writable (checked before computing: a read-only
    ledger would refuse only at the end) and the period runnable. Returns the plugin settings."""
    if settings is None:
        settings = check_program(loaded, plugins)
    if not dry_run:
        ledger.check_writable()
    ledger.check_runnable(period)
    ledger.check_currency(loaded.program.currency, period.key)
    return settings


@contextlib.contextmanager
def _lock(ledger: Ledger, period: Period, wait_seconds: float, *, dry_run: bool) -> Iterator[None]:
    """Hold the period for this run; runs a killed process left unfinished are marked interrupted."""
    with ledger.hold_period(period.key, wait_seconds):
        ledger.check_runnable(period)  # again: another run may have stored a later period meanwhile
        if not dry_run:
            ledger.mark_interrupted_runs(period.key)
        yield


def _load(connector: Connector, program: Program, ledger: Ledger, progress: Progress) -> RecordSet:
    progress.step("reading records")
    if isinstance(connector, ShowsProgress):
        connector.show_progress(progress)
    return connector.read(program, ledger)


def _history(ledger: Ledger, period: Period, check: ApprovalCheck) -> tuple[int, History]:
    # The generation is read before the history: the run stores only if no other run or close changed
    # the ledger since, so results are never computed from stale history (overlapping runs).
    generation = ledger.generation()
    return generation, ledger.history(period, check)


def pilot_plan(
    loaded: LoadedProgram, plugins: Plugins, records: RecordSet, ledger: Ledger, period: Period
) -> PilotPlan | None:
    """The pilot's arms for this period (None without a pilot), of the partners in its run: kept from the
    period's own stored run (a rerun, an explain of a recorded period) and else from the pilot's earlier
    periods in the ledger, while the cohort definition is the same."""
    pilot = loaded.program.pilot
    if pilot is None or loaded.variant is None:
        return None
    merged = aliases(records).partners
    earlier = carried_to_merged(earlier_arms(ledger, period, pilot.name), merged)
    stored = carried_to_merged(stored_arms(ledger, period, pilot.name), merged)
    # Only the partners in the period's run hold an arm: one joining after its last day is in neither.
    partners = [p for p in records.partners if _in_run(p, period)]
    return pilot_plan_of(loaded, check_program(loaded.variant, plugins), partners, earlier, stored)


def _plan(
    computation: Computation, connector: Connector, ledger: Ledger, progress: Progress, mark: int
) -> list[FieldWrite]:
    """The managed field values that differ from what the target holds: the computed ones, the
    accounts written before that are no partners any more, cleared, and the deals projected before that
    are no longer read, their projection cleared."""
    target = target_of(connector)
    unconfirmed = ledger.unconfirmed_deals(target)  # none unless the latest run did not finish cleanly
    paid = _paid_before(ledger, computation, target)
    # A deal the latest run meant to clear and did not see cleared (cut short after storing, or refused)
    # is cleared whatever it shows, as then: the lines that paid it are no longer the period's.
    cleared = {deal_id for deal_id, clears in unconfirmed.items() if clears}
    former = [
        *former_partner_writes(computation, ledger.planned_account_ids(target)),
        *former_deal_writes(computation, _projected_before(ledger) | unconfirmed.keys(), paid, cleared),
    ]
    progress.step("comparing with the target")
    keys = planned_keys(computation)
    keys.extend(w.key for w in former)
    current = _current_values(connector, ledger, keys, mark)
    # A former partner's account, a deal no longer read, is no record the CRM read gave (the partner or
    # deal filter no longer selects it): what the CRM holds on it is asked of the CRM itself.
    unread = [w.key for w in former if w.key not in current]
    if unread and isinstance(connector, ReadsFresh):
        current = {**current, **connector.fresh_values(unread)}
    # Each planned write is compared as it is made, and kept only if it changes something: a later
    # period plans every deal again, a million writes that need not be held at once.
    desired = each_planned_write(  # under the ids merges gave
        computation, computation.context.history, unpaid_if_won=paid | unconfirmed.keys()
    )
    return changed_writes(itertools.chain(desired, former), current)


def _projected_before(ledger: Ledger) -> set[str]:
    """The deals whose projection cosell may have written and not taken back: those the latest stored
    period's results project (a rerun of it: its previous run's), read from the ledger's projections,
    not from the outbox's deal rows (a million a run). ``_plan`` adds the deals the target's latest run
    did not see written (a clearing refused, or cut short)."""
    latest = ledger.latest_period_with_lines()
    return set() if latest is None else ledger.projected_deal_ids(latest)


def _paid_before(ledger: Ledger, computation: Computation, target: str) -> set[str]:
    """The deals the previous run of this (open) period paid a deal incentive on: their fields show what
    those lines came to, and a rerun that pays nothing on one of them clears it. None on a period's first
    run (its lines are not stored yet). After ``cosell discard`` of the period, whose lines are gone, the
    deals its discarded runs wrote a value to: what the target shows of them is the discarded results."""
    kinds = computation.context.line_kinds
    key = computation.context.period.key
    paid = ledger.paid_deal_ids(key, [name for name, kind in kinds.items() if kind.deal_incentive])
    return paid | ledger.discarded_deal_ids(target, key)


def _store(
    ledger: Ledger,
    plugins: Plugins,
    computation: Computation,
    changes: Sequence[FieldWrite],
    connector: Connector,
    generation: int,
    recorded: RunProvenance,
    progress: Progress,
    started: datetime,
    refused: Sequence[Refusal] = (),
) -> int:
    """Lines, standings, projections and what the statements show replace the period's previous ones;
    the changes enter the outbox as pending, the adjustments the lines pay become applied, and what the
    run computed with (program text, versions, records digest, the tier exceptions its history held) is
    recorded with them; the approvals its program's governance ``refused`` go back to pending. One
    transaction; refused when the ledger moved since the history was read."""
    progress.step("storing in the ledger")
    context = computation.context
    lines = computation.all_lines()
    return ledger.record_run(
        period=context.period,
        program=context.program.program,
        connector=connector.name,
        target=target_of(connector),
        lines=lines,
        standings=computation.standings,
        projections=computation.projections,
        writes=changes,
        generation=generation,
        statement=stored_statement(computation, plugins),
        adjustments=paid_adjustments(lines),
        provenance=recorded,
        tier_exceptions=[e.id for e in context.history.tier_exceptions],
        started_at=started,
        reopened=refused,
        crm_tiers={facts.id: facts.partner.crm_tier for facts in computation.facts},
    )


def stored_statement(computation: Computation, plugins: Plugins) -> tuple[str, Mapping[str, str]]:
    """What the statements and the report read of the run, as ``Ledger.record_run`` stores it: the
    program-wide text (with the report's document and the pilot's part) and each partner's text.
    One pass over the partners makes both a partner's statement record and its report facts: each reads
    the partner's deals, scattered over the run's memory, and the second read finds them in the
    processor's cache (a pass of its own cost 0.35 s of CPU a 300,000-deal run)."""
    report = report_facts.ReportDocument(computation, plugins)
    partners: dict[str, str] = {}
    for facts, standing, record in statement_facts.partner_records(computation, plugins):
        partners[facts.id] = statement_facts.encode_partner(record)
        report.add(facts, standing)
    run_text = statement_facts.encode_run(statement_facts.run_wide_record(computation))
    statement = report_facts.with_report_doc((run_text, partners), report.doc())
    return with_pilot(statement, computation)


def _partners_left(
    ledger: Ledger, computation: Computation, changes: Sequence[FieldWrite]
) -> tuple[str, ...]:
    """A note for each partner the period's stored lines (its previous run's) pay that the run computes
    nothing for: the read no longer gives it (taken out of the partner filter, out of ``partners.csv``)
    while no status said it was leaving, and the run replaces the period's lines with none of its own.
    Without a word, what it earned on deals already won in the period would vanish from the ledger
    unseen. A partner merged into one the records hold is no such partner: its lines are recomputed
    under the id it goes by now. Said by the run that drops the lines: once stored, the period's lines
    no longer name the partner. The note says the account's fields are cleared only when ``changes``
    (the run's planned writes) clear them: an account the target no longer holds (deleted) is not
    written."""
    period = computation.context.period.key
    stored = ledger.report_partner_kinds(period)  # none on a period's first run
    if not stored:
        return ()
    present = {facts.id for facts in computation.facts}
    merged_into = aliases(computation.context.records).partners
    cents: dict[str, int] = {}
    for partner_id, _kind, total in stored:
        if partner_id not in present and merged_into.get(partner_id) not in present:
            cents[partner_id] = cents.get(partner_id, 0) + total
    if not cents:
        return ()
    names = {row[0]: row[1] for row in ledger.report_standings(period)}
    currency = computation.context.program.currency
    cleared = {w.record_id for w in changes if w.object == "account" and w.record_id in cents}
    later = {p.id for p in computation.not_joined}
    notes = []
    for partner_id in sorted(cents):
        name = names.get(partner_id)
        who = f"partner {partner_id}" + (f" ({name})" if name else "")
        if partner_id in later:  # among the records, but joined after the period (its own note says so)
            notes.append(
                f"{who}: its lines of {period} from the period's previous run, "
                f"{show(from_cents(cents[partner_id]))} {currency} in all, are no longer paid (it joined after {period})"
            )
            continue
        account = (
            "its account's fields are cleared"
            if partner_id in cleared
            else "its account is not written: the write-back target no longer holds it, or holds no value of "
            "it to clear"
        )
        notes.append(
            f"{who} is no longer among the records: its lines of {period} from the period's previous run, "
            f"{show(from_cents(cents[partner_id]))} {currency} in all, are no longer paid, and {account} "
            "(to wind a partner down instead, keep it read, with status exited and its exit_on)"
        )
    return tuple(notes)


NOT_JOINED_NAMED = 10
"""Partners not yet in the program that a run's note names one by one (the others are counted)."""


def _not_joined_notes(computation: Computation) -> tuple[str, ...]:
    """A note for the partners the run left out because they joined after the period's last day: without
    a word, a partner in the records with no row, no tier and no lines would look like a mistake."""
    later = computation.not_joined
    if not later:
        return ()
    period = computation.context.period
    notes = [
        f"partner {p.id} ({p.name}) joined the program on {p.joined_on.isoformat()}, after {period.key} "
        f"(which ends on {period.end.isoformat()}): left out of the run of {period.key} (no score, tier or "
        "lines); a partner not yet in the program earns nothing on that period's deals, activities or MDF "
        "claims, neither in it nor paid late in a later period"
        for p in later[:NOT_JOINED_NAMED]
    ]
    if len(later) > NOT_JOINED_NAMED:
        notes.append(
            f"… and {len(later) - NOT_JOINED_NAMED} more partners who joined after {period.key}, left out of "
            "its run alike"
        )
    return tuple(notes)


def _governance_notes(
    ledger: Ledger, computation: Computation, refused: Sequence[Refusal]
) -> tuple[str, ...]:
    """What the run says of approved adjustments and tier exceptions it does not apply: those its
    program's governance would not have approved (``refused``), those naming the other kind of period,
    and adjustments whose partner is not among the records."""
    return (
        tuple(refusal.note() for refusal in refused)
        + ledger.never_applied(computation.context.period)
        + _waiting_adjustments(computation)
    )


def _waiting_adjustments(computation: Computation) -> tuple[str, ...]:
    """A note for each approved adjustment due in the run that no line paid because its partner is not
    among the records (a typo, or a partner not read yet): it stays approved for a later run, and without
    a word it would wait unseen, period after period."""
    due = computation.context.history.adjustments
    if not due:
        return ()
    # Only a partner among the records has lines (a line for another partner is refused): an adjustment
    # of a partner not among them is paid by no rule.
    partners = {facts.id for facts in computation.facts}
    missing = [adjustment for adjustment in due if adjustment.partner_id not in partners]
    if not missing:
        return ()
    by_case = {partner_id.casefold(): partner_id for partner_id in sorted(partners, reverse=True)}
    later = {p.id: p for p in computation.not_joined}
    period = computation.context.period.key
    notes = []
    for adjustment in missing:
        joins = later.get(adjustment.partner_id)
        if joins is not None:
            notes.append(
                f"adjustment {adjustment.id} for {adjustment.partner_id}: it joined the program on "
                f"{joins.joined_on.isoformat()}, after {period}; it waits for the run of a period it is in"
            )
            continue
        note = (
            f"adjustment {adjustment.id} for {adjustment.partner_id}: no partner {adjustment.partner_id} "
            "among the records; it waits"
        )
        alike = by_case.get(adjustment.partner_id.casefold())
        if alike is not None:
            note += f" (the records have {alike})"
        notes.append(note)
    return tuple(notes)


def _finish(
    ledger: Ledger,
    plugins: Plugins,
    connector: Connector,
    computation: Computation,
    run_id: int,
    changes: Sequence[FieldWrite],
    written: int,
    failures: Sequence[str],
    left: tuple[str, ...] = (),
    refused: Sequence[Refusal] = (),
) -> RunReport:
    """The run's report, ``cosell_run_finished``, and the run's status (failed with refused writes or a
    raising hook: exit 3). ``left``: the notes of :func:`_partners_left`; ``refused``: the approvals
    its program's governance would not have given."""
    notes = tuple(connector.notes()) if isinstance(connector, Notes) else ()
    if isinstance(connector, LeavesOutClaims):
        notes += tuple(claims_left_out_note(connector.claims_left_out(), computation.context.period))
    if computation.pilot is not None:
        notes += computation.pilot.notes(computation.context.program)
    notes += left + _governance_notes(ledger, computation, refused)
    report = RunReport(
        computation.context.period.key,
        run_id,
        False,
        _partner_rows(computation),
        tuple(changes),
        written,
        tuple(failures),
        notes,
    )
    problems, causes = list(failures), []
    for plugin, call in plugins.implementations("cosell_run_finished"):
        try:
            call({"context": computation.context, "report": report})
        except (Exception, SystemExit) as exc:  # sys.exit here must not leave the run unfinished
            failure = plugin_failure(plugin, "cosell_run_finished", exc)
            problems.append(failure.render())
            causes.append(exc)
    ledger.finish_run(
        run_id, "failed" if problems else "done", {"written": written, "failures": len(problems)}
    )
    if problems:
        raise FinishedWithFailures(problems, report=report, causes=causes)
    return report


def _current_values(
    connector: Connector, ledger: Ledger, keys: Sequence[RecordKey], mark: int
) -> Mapping[RecordKey, FieldValues]:
    """What the target holds for ``keys``. A CRM connector answers from the records it just synced;
    records written meanwhile are read from the target itself: those an interrupted run may have written
    (its unconfirmed outbox rows: a batch can land after the process died), so a landed write is not sent
    twice, and those another run (of another period) sent since this one noted the outbox's ``mark``
    before reading, so this run does not plan against values from before that write landed."""
    current = connector.current_values(keys)
    if not isinstance(connector, ReadsFresh):
        return current
    unconfirmed = sorted(ledger.keys_written_since(target_of(connector), mark).intersection(keys))
    if not unconfirmed:
        return current
    return {**current, **connector.fresh_values(unconfirmed)}


def _partner_rows(computation: Computation) -> tuple[PartnerRow, ...]:
    rows: list[PartnerRow] = []
    for facts, standing in zip(computation.facts, computation.standings, strict=True):
        rows.append(
            {
                "id": facts.id,
                "name": facts.partner.name,
                "score": f"{standing.score.value:.2f}",
                "eligible_tier": standing.tier.eligible,
                "tier": standing.tier.assigned,
                "tier_shown": tier_shown(
                    standing.tier, left=facts.partner.left_by(computation.context.period.end)
                ),
                "tier_exception": _exception_json(standing.tier.exception),
                "left": facts.partner.left_by(computation.context.period.end),
                "previous_tier": standing.tier.previous,
                "earnings": f"{computation.earnings(facts.id):.2f}",
                "lines": len(computation.lines.get(facts.id, ())),
            }
        )
        if computation.pilot is not None:
            rows[-1]["pilot_arm"] = computation.pilot.arm_of(facts.id)
    return tuple(rows)


def _exception_json(exception: TierException | None) -> dict[str, Any] | None:
    if exception is None:
        return None
    return {
        "id": exception.id,
        "tier": exception.tier,
        "until": exception.until,
        "reason": exception.reason,
        "proposed_by": exception.proposed_by,
        "approved_by": exception.approved_by,
    }


def explain_partner(
    computation: Computation, partner_id: str
) -> tuple[PartnerFacts, PartnerStanding, tuple[PayoutLine, ...]]:
    for facts, standing in zip(computation.facts, computation.standings, strict=True):
        if facts.id == partner_id:
            return facts, standing, computation.lines.get(partner_id, ())
    raise KeyError(partner_id)


__all__ = [
    "Computation",
    "FieldWrite",
    "Involvement",
    "MetricDefinition",
    "Progress",
    "check_program",
    "compute",
    "convert",
    "group_by_partner",
    "resolve_involvements",
    "run",
]
