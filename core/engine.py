"""The run, top to bottom: load → validate → convert → metrics → score → tier → payout lines →
adjustments → ledger → write-back plan → write-back.

Data flows forward as immutable records and lines; no step reaches back into an earlier one. Hooks
are called per partner, so their number grows with partners, not deals.
"""

from __future__ import annotations

import dataclasses
import gc
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from .connector import Connector, FieldValues, FieldWrite, RecordKey
from .context import PartnerDeal, PartnerFacts, RunContext, RunReport
from .errors import FinishedWithFailures, InputError, PluginError, Problem, ProgramError
from .money import round_cents, show, show_number
from .periods import Period
from .pluginmanager import Plugins, guarded
from .program import LoadedProgram, Program
from .records import MAX_AMOUNT, ROLES, Deal, Involvement, MdfClaim, RecordSet, Role
from .results import (
    History,
    LineKind,
    MetricDefinition,
    PartnerStanding,
    PayoutLine,
    Projection,
    Score,
    TierDecision,
    frozen_mapping,
)
from .statements import facts as statement_facts
from .writeback import changed_writes, planned_writes, write_pending

if TYPE_CHECKING:
    from .ledger import Ledger

ZERO = Decimal(0)
ONE = Decimal(1)
HALF = Decimal("0.5")


class Progress(Protocol):
    """Reports progress of long steps (the CLI shows bars on a terminal; elsewhere it is silent)."""

    def step(self, name: str, total: int | None = None) -> Callable[[int], None]: ...


class _Silent:
    def step(self, name: str, total: int | None = None) -> Callable[[int], None]:
        return lambda n: None


@dataclass(frozen=True, slots=True)
class Computation:
    """Everything a run computed for a period, before anything is stored or written."""

    context: RunContext
    facts: tuple[PartnerFacts, ...]
    standings: tuple[PartnerStanding, ...]
    lines: Mapping[str, tuple[PayoutLine, ...]]
    projections: tuple[Projection, ...]

    def all_lines(self) -> list[PayoutLine]:
        return [line for facts in self.facts for line in self.lines.get(facts.id, ())]

    def earnings(self, partner_id: str) -> Decimal:
        """Period earnings: the sum of the partner's lines, MDF left out."""
        kinds = self.context.line_kinds
        return sum(
            (
                line.amount
                for line in self.lines.get(partner_id, ())
                if (kind := kinds.get(line.kind)) is None or kind.period_earnings
            ),
            ZERO,
        )


# --- validate --------------------------------------------------------------------------------------


def check_program(loaded: LoadedProgram, plugins: Plugins) -> dict[str, BaseModel]:
    """Program checks that need the plugins: metric names and plugin settings. Returns the settings."""
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
    if problems:
        raise ProgramError(problems)
    return settings


# --- convert ---------------------------------------------------------------------------------------


def convert(records: RecordSet, program: Program) -> RecordSet:
    """Amounts into the program currency with the program's fx table; a missing rate is an input error."""
    problems: list[Problem] = []
    deals = []
    rates: dict[str, Decimal | None] = {}
    for deal in records.deals:
        currency = deal.currency
        rate = rates[currency] if currency in rates else rates.setdefault(currency, program.fx_rate(currency))
        if rate is None:
            problems.append(
                Problem(
                    f"deal {deal.id}",
                    f"currency: no exchange rate for {deal.currency} in the program's fx table",
                )
            )
        elif rate != 1:
            deal = _with_amount(deal, deal.amount * rate)
            if deal.amount > MAX_AMOUNT:
                problems.append(_too_large(f"deal {deal.id}", deal.amount, program.currency))
        deals.append(deal)
    claims: list[MdfClaim] = []
    for claim in records.mdf_claims:
        rate = program.fx_rate(claim.currency or program.currency)
        if rate is None:
            problems.append(
                Problem(
                    f"MDF claim {claim.id}",
                    f"currency: no exchange rate for {claim.currency} in the program's fx table",
                )
            )
        elif rate != 1:
            claim = dataclasses.replace(claim, amount=claim.amount * rate)
            if claim.amount > MAX_AMOUNT:
                problems.append(_too_large(f"MDF claim {claim.id}", claim.amount, program.currency))
        claims.append(claim)
    if problems:
        raise InputError(problems)
    return RecordSet(records.partners, tuple(deals), records.activities, tuple(claims))


def _too_large(where: str, amount: Decimal, currency: str) -> Problem:
    return Problem(
        where, f"amount: {show(amount)} {currency} after conversion is too large: at most {MAX_AMOUNT:,}"
    )


def _with_amount(d: Deal, amount: Decimal) -> Deal:
    # Positional construction: several times faster than dataclasses.replace on a million deals.
    return Deal(
        d.id,
        d.name,
        amount,
        d.currency,
        d.stage,
        d.status,
        d.created_on,
        d.closed_on,
        d.discount_pct,
        d.margin_pct,
        d.campaign,
        d.refunded_on,
        d.partners,
    )


def resolve_involvements(deal: Deal) -> list[tuple[str, Role, Decimal]]:
    """One involvement per partner (the first role in the order sourced, cosell, influenced), and the
    shares resolved: partners with no share split what the given shares leave, equally."""
    involved = deal.partners
    # The common cases, kept fast (a million deals pass here): one partner, or two distinct partners
    # with at most one share given.
    if len(involved) == 1:
        only = involved[0]
        return [(only.partner_id, only.role, ONE if only.share is None else only.share)]
    if len(involved) == 2:
        first, second = involved
        if first.partner_id != second.partner_id and (first.share is None or second.share is None):
            given = second.share if first.share is None else first.share
            if given is None:
                return [(first.partner_id, first.role, HALF), (second.partner_id, second.role, HALF)]
            rest = ONE - given  # given ≤ 1: a share is validated to 0–1
            a, b = (rest, given) if first.share is None else (given, rest)
            return [(first.partner_id, first.role, a), (second.partner_id, second.role, b)]
    merged: dict[str, list[Any]] = {}
    for inv in involved:
        seen = merged.get(inv.partner_id)
        if seen is None:
            merged[inv.partner_id] = [inv.role, inv.share]
        else:
            if inv.share != seen[1]:
                # One partner, one share: two different ones (or a share and none) cannot both hold.
                shares = " and ".join("none" if x is None else show_number(x) for x in (seen[1], inv.share))
                message = (
                    f"partners: partner {inv.partner_id} is named twice with different shares ({shares})"
                )
                raise InputError([Problem(f"deal {deal.id}", message)])
            if ROLES.index(inv.role) < ROLES.index(seen[0]):
                seen[0] = inv.role
    given = sum((s for _, s in merged.values() if s is not None), ZERO)
    if given > 1:
        raise InputError([Problem(f"deal {deal.id}", f"partners: shares add up to {given}, more than 1")])
    open_count = sum(1 for _, s in merged.values() if s is None)
    rest = (ONE - given) / open_count if open_count else ZERO
    return [(pid, role, rest if share is None else share) for pid, (role, share) in merged.items()]


def group_by_partner(records: RecordSet) -> tuple[PartnerFacts, ...]:
    """Each partner with every record that involves it, partners in id order. Involvements of ids that
    are not partners of the program are ignored (a CRM account not flagged as a partner, say)."""
    deals: dict[str, list[PartnerDeal]] = defaultdict(list)
    problems: list[Problem] = []
    for deal in records.deals:
        try:
            resolved = resolve_involvements(deal)
        except InputError as err:
            problems.extend(err.problems)
            continue
        for pid, role, share in resolved:
            deals[pid].append(PartnerDeal(deal, role, share))
    if problems:
        raise InputError(problems)
    activities = defaultdict(list)
    for activity in records.activities:
        activities[activity.partner_id].append(activity)
    claims = defaultdict(list)
    for claim in records.mdf_claims:
        claims[claim.partner_id].append(claim)
    partners = sorted(records.partners, key=lambda p: p.id)
    return tuple(
        PartnerFacts(
            p, tuple(deals.get(p.id, ())), tuple(activities.get(p.id, ())), tuple(claims.get(p.id, ()))
        )
        for p in partners
    )


# --- compute ---------------------------------------------------------------------------------------


def compute(
    program: Program,
    period: Period,
    records: RecordSet,
    history: History,
    plugins: Plugins,
    settings: Mapping[str, BaseModel] | None = None,
    progress: Progress | None = None,
) -> Computation:
    """Records (already validated) to standings, lines and projections. Pure: no I/O, no clock."""
    # The step allocates millions of small objects and makes no reference cycles: the cyclic garbage
    # collector would only rescan the records again and again (it doubled the time on a million deals).
    paused = gc.isenabled()
    gc.disable()
    try:
        return _compute(program, period, records, history, plugins, settings, progress)
    except PluginError as exc:
        if exc.hint is None and exc.plugin != "cosell":
            raise PluginError(
                exc.plugin, exc.message, hint=f"defined in {plugins.source(exc.plugin)}"
            ) from exc
        raise
    finally:
        if paused:
            gc.enable()


def _compute(
    program: Program,
    period: Period,
    records: RecordSet,
    history: History,
    plugins: Plugins,
    settings: Mapping[str, BaseModel] | None,
    progress: Progress | None,
) -> Computation:
    progress = progress or _Silent()
    records = convert(records, program)
    facts = group_by_partner(records)
    kinds = plugins.line_kinds()
    context = RunContext(
        program,
        period,
        history,
        records,
        dict(settings or {}),
        MappingProxyType({name: kind for name, (_, kind) in kinds.items()}),
    )
    lines_check = _LineCheck(kinds, frozenset(deal.id for deal in records.deals))
    for _ in plugins.call_each("cosell_run_started", context=context):
        pass
    declared = {name: plugin for name, (plugin, _) in plugins.metric_definitions().items()}
    metric_impls = plugins.implementations("cosell_metrics")
    score_impls = plugins.implementations("cosell_score")
    tier_impls = plugins.implementations("cosell_tier")
    line_impls = plugins.implementations("cosell_payout_lines")
    projection_impls = plugins.implementations("cosell_projections")

    standings: list[PartnerStanding] = []
    lines: dict[str, tuple[PayoutLine, ...]] = {}
    projections: list[Projection] = []
    advance = progress.step("computing partners", len(facts))
    for partner in facts:
        kwargs: dict[str, Any] = {"partner": partner, "context": context}
        metrics: dict[str, Decimal | None] = {}
        for plugin, call in metric_impls:
            metrics.update(
                _checked_metrics(plugin, guarded(plugin, "cosell_metrics", call, kwargs), declared)
            )
        kwargs["metrics"] = metrics
        score = _first(score_impls, "cosell_score", kwargs, Score)
        kwargs["score"] = score
        tier = _first(tier_impls, "cosell_tier", kwargs, TierDecision)
        if context.program.tier(tier.assigned) is None or context.program.tier(tier.eligible) is None:
            raise PluginError(
                tier_plugin_name(tier_impls), f"cosell_tier chose a tier the program does not have: {tier}"
            )
        standing = PartnerStanding(partner.id, frozen_mapping(metrics), score, tier, partner.partner.name)
        standings.append(standing)
        kwargs["standing"] = standing
        partner_lines: tuple[PayoutLine, ...] = ()
        for plugin, call in line_impls:
            kwargs["lines"] = partner_lines
            produced = guarded(plugin, "cosell_payout_lines", call, kwargs)
            partner_lines += lines_check(plugin, "cosell_payout_lines", produced, partner.id)
        lines[partner.id] = partner_lines
        for plugin, call in projection_impls:
            projections.extend(
                _checked_projections(plugin, guarded(plugin, "cosell_projections", call, kwargs))
            )
        advance(1)

    for plugin, call in plugins.implementations("cosell_adjustments"):
        produced = guarded(plugin, "cosell_adjustments", call, {"lines": dict(lines), "context": context})
        for line in lines_check(plugin, "cosell_adjustments", produced, None):
            if line.partner_id not in lines:
                raise PluginError(
                    plugin, f"cosell_adjustments returned a line for unknown partner {line.partner_id!r}"
                )
            lines[line.partner_id] += (line,)
    return Computation(context, facts, tuple(standings), lines, tuple(projections))


def tier_plugin_name(impls: Sequence[tuple[str, Any]]) -> str:
    return impls[0][0] if impls else "?"


def _first(impls: Sequence[tuple[str, Any]], hook: str, kwargs: Mapping[str, Any], kind: type) -> Any:
    for plugin, call in impls:
        result = guarded(plugin, hook, call, kwargs)
        if result is not None:
            if not isinstance(result, kind):
                raise PluginError(plugin, f"{hook} returned {type(result).__name__}, not a {kind.__name__}")
            return result
    raise PluginError("cosell", f"no plugin answered {hook}")


def _checked_metrics(plugin: str, values: Any, declared: Mapping[str, str]) -> Mapping[str, Decimal | None]:
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
        if value is None or isinstance(value, Decimal):
            out[name] = value
        elif isinstance(value, int) and not isinstance(value, bool):
            out[name] = Decimal(value)
        else:
            raise PluginError(
                plugin, f"metric {name!r} is {type(value).__name__} {value!r}; give a Decimal, an int or None"
            )
    return out


class _LineCheck:
    """Checks every line a plugin returns: a PayoutLine of a kind the plugin itself declared, a Decimal
    rounded to cents, a one-line explanation, a deal of the run's records. Sets ``uncapped`` from the
    kind's declaration, so the ledger keeps the treatment the line was computed with."""

    def __init__(self, kinds: Mapping[str, tuple[str, LineKind]], deal_ids: frozenset[str]) -> None:
        self.kinds = kinds
        self.deal_ids = deal_ids

    def __call__(
        self, plugin: str, hook: str, produced: Any, partner_id: str | None
    ) -> tuple[PayoutLine, ...]:
        if produced is None:
            return ()
        if isinstance(produced, PayoutLine) or not isinstance(produced, Iterable):
            raise PluginError(
                plugin, f"{hook} must return an iterable of PayoutLine, not {type(produced).__name__}"
            )
        return tuple(self._checked(plugin, hook, line, partner_id) for line in produced)

    def _checked(self, plugin: str, hook: str, produced: object, partner_id: str | None) -> PayoutLine:
        if not isinstance(produced, PayoutLine):
            raise PluginError(
                plugin, f"{hook} returned {type(produced).__name__} {produced!r}, not a PayoutLine"
            )
        line = produced
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
        if not isinstance(line.amount, Decimal):
            raise PluginError(
                plugin,
                f"{hook}: the amount of a {line.kind!r} line is {type(line.amount).__name__}, not Decimal",
            )
        if round_cents(line.amount) != line.amount:
            raise PluginError(
                plugin,
                f"{hook}: a {line.kind!r} line of {line.amount} is not rounded to cents (use cosell.money.round_cents)",
            )
        if not line.explanation.strip():
            raise PluginError(plugin, f"{hook}: a {line.kind!r} line has no explanation")
        if line.explanation.splitlines() != [line.explanation]:
            raise PluginError(
                plugin, f"{hook}: a {line.kind!r} line's explanation spans several lines; give one line"
            )
        if partner_id is not None and line.partner_id != partner_id:
            raise PluginError(
                plugin,
                f"{hook}: returned a line for partner {line.partner_id!r} while computing {partner_id!r}",
            )
        if line.deal_id is not None and line.deal_id not in self.deal_ids:
            raise PluginError(
                plugin,
                f"{hook}: a {line.kind!r} line names deal {line.deal_id!r}, which is not among the run's deals",
            )
        if line.uncapped != (not kind.capped):
            line = dataclasses.replace(line, uncapped=not kind.capped)
        return line


def _checked_projections(plugin: str, produced: Any) -> list[Projection]:
    out = []
    for item in produced or ():
        if not isinstance(item, Projection):
            raise PluginError(plugin, f"cosell_projections returned {type(item).__name__}, not a Projection")
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
    program = loaded.program
    period = period or program.the_period
    if settings is None:
        settings = check_program(loaded, plugins)
    if not dry_run:
        ledger.check_writable()  # before computing: a read-only ledger would refuse only at the end
    ledger.check_runnable(period)
    with ledger.hold_period(period.key, lock_wait_seconds):
        ledger.check_runnable(period)
        if not dry_run:
            ledger.mark_interrupted_runs(period.key)
        step = (progress or _Silent()).step
        step("reading records")
        records = connector.read(program, ledger)
        # Read before the history: record_run stores only if no other run or close changed the ledger
        # since, so results are never computed from stale history (overlapping runs of other periods).
        generation = ledger.generation()
        history = ledger.history(period)
        computation = compute(program, period, records, history, plugins, settings, progress)
        desired = planned_writes(computation, history)
        step("comparing with the target")
        target = getattr(connector, "target", connector.name)
        current = _current_values(connector, ledger, target, [w.key for w in desired])
        changes = changed_writes(desired, current)
        partners = _partner_rows(computation)
        if dry_run:
            return RunReport(period.key, None, True, partners, tuple(changes))
        run_id = ledger.record_run(
            period=period,
            program=program.program,
            connector=connector.name,
            target=target,
            lines=computation.all_lines(),
            standings=computation.standings,
            projections=computation.projections,
            writes=changes,
            generation=generation,
            statement=statement_facts.encode(statement_facts.run_record(computation, plugins)),
        )
        written, failures = write_pending(connector, ledger, target, progress or _Silent())
        notes = getattr(connector, "notes", None)
        report = RunReport(
            period.key,
            run_id,
            False,
            partners,
            tuple(changes),
            written,
            tuple(failures),
            tuple(notes() if callable(notes) else ()),
        )
        problems = list(failures)
        for plugin, call in plugins.implementations("cosell_run_finished"):
            try:
                call({"context": computation.context, "report": report})
            except Exception as exc:
                problems.append(f"plugin {plugin!r}: cosell_run_finished raised {type(exc).__name__}: {exc}")
        ledger.finish_run(
            run_id, "failed" if problems else "done", {"written": written, "failures": len(problems)}
        )
        if problems:
            raise FinishedWithFailures(problems, report=report)
        return report


def _current_values(
    connector: Connector, ledger: Ledger, target: str, keys: Sequence[RecordKey]
) -> Mapping[RecordKey, FieldValues]:
    """What the target holds for ``keys``. A CRM connector answers from the records it just synced;
    records an interrupted run may have written meanwhile (its unconfirmed outbox rows: a batch can
    land after the process died) are read from the target itself, so a landed write is not sent twice."""
    current = connector.current_values(keys)
    fresh = getattr(connector, "fresh_values", None)
    if not callable(fresh):
        return current
    wanted = set(keys)
    unconfirmed = sorted({item.write.key for item in ledger.pending_writes(target)} & wanted)
    if not unconfirmed:
        return current
    return {**current, **fresh(unconfirmed)}


def _partner_rows(computation: Computation) -> tuple[dict[str, Any], ...]:
    rows = []
    for facts, standing in zip(computation.facts, computation.standings, strict=True):
        rows.append(
            {
                "id": facts.id,
                "name": facts.partner.name,
                "score": f"{standing.score.value:.2f}",
                "eligible_tier": standing.tier.eligible,
                "tier": standing.tier.assigned,
                "previous_tier": standing.tier.previous,
                "earnings": f"{computation.earnings(facts.id):.2f}",
                "lines": len(computation.lines.get(facts.id, ())),
            }
        )
    return tuple(rows)


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
    "check_program",
    "compute",
    "convert",
    "group_by_partner",
    "run",
]
