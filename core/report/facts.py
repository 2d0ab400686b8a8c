"""What the program report needs that only the run knows, recorded with the run.

Plugins answer ``cosell_report_facts`` once per partner (won revenue and margin, sourced pipeline,
deals closed, days to win, quota attainment, deals the guardrails withheld or floored, MDF per
campaign); cosell adds what it knows itself (status and exit, the tier it came from, projected
commission, the next tier's goals). The run keeps it all as one JSON document per period, under the
``report`` key of the period's ``cosell_statement_runs`` row (docs/ledger.md), so the report reads a
period with one row, and periods run before have no ``report`` key: their figures are "not recorded".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from ..errors import PluginError
from ..money import amount_problem
from ..pluginmanager import guarded

if TYPE_CHECKING:
    from ..computation import Computation
    from ..context import PartnerFacts, RunContext
    from ..pluginmanager import Plugins
    from ..program import Program
    from ..results import PartnerStanding, PayoutLine

REPORT_KEY = "report"
"""The key of the report's document inside the period's statement run record."""
VERSION = 1


@dataclass(frozen=True, slots=True)
class GuardedDeal:
    """A deal won in the period whose commission a guardrail withheld (``withheld``: discount above the
    limit) or cut (``floored``: margin below the floor)."""

    deal_id: str
    deal_name: str
    amount: Decimal
    """The deal's amount × the partner's share."""
    discount_pct: Decimal | None
    margin_pct: Decimal | None
    action: str
    """``withheld`` or ``floored``."""


@dataclass(frozen=True, slots=True)
class CampaignFunds:
    """One campaign's market-development funds for a partner in the period."""

    campaign: str
    funded: Decimal
    """What the claims approved in the period were funded with."""
    released: Decimal
    """What was paid in the period (on approval and on release)."""
    pending: Decimal
    """What is still to be released at the period's end."""
    pipeline: Decimal
    """Σ amount × share of the partner's deals of the campaign created in the period."""


@dataclass(frozen=True, slots=True)
class ReportFacts:
    """What one plugin knows of a partner's period for the program report. A field left None is not
    this plugin's to give; two plugins giving the same field is an error naming the second."""

    won_revenue: Decimal | None = None
    """Σ amount × share of deals won in the period."""
    won_margin: Decimal | None = None
    """Σ amount × share × margin_pct ÷ 100 of the won deals whose margin is known."""
    margin_known_revenue: Decimal | None = None
    """The won revenue of the deals whose margin is known (what ``won_margin`` covers)."""
    sourced_pipeline: Decimal | None = None
    won_deals: int | None = None
    lost_deals: int | None = None
    days_to_win: tuple[int, ...] | None = None
    """Days from created to closed of each deal won in the period."""
    attainment: Decimal | None = None
    """Won revenue ÷ the tier's quota; None when the tier has no quota."""
    guarded: tuple[GuardedDeal, ...] | None = None
    campaigns: tuple[CampaignFunds, ...] | None = None


def merged_facts(plugins: Plugins, partner: PartnerFacts, standing: PartnerStanding,
                 lines: Sequence[PayoutLine], context: RunContext,
                 implementations: Sequence[tuple[str, Any]] | None = None) -> ReportFacts:  # fmt: skip
    """Every plugin's answer to ``cosell_report_facts`` for one partner, field by field.
    ``implementations``: the hook's, as ``plugins.implementations`` gives them (looked up once a run)."""
    if implementations is None:
        implementations = plugins.implementations(HOOK)
    merged: dict[str, Any] = {}
    given: dict[str, str] = {}
    kwargs = {"partner": partner, "standing": standing, "lines": tuple(lines), "context": context}
    for plugin, call in implementations:
        result = guarded(plugin, HOOK, call, kwargs)
        if result is None:
            continue
        if not isinstance(result, ReportFacts):
            raise PluginError(plugin, f"cosell_report_facts returned {result!r}, not a ReportFacts")
        for name, value in zip(_FACT_NAMES, _fact_values(result), strict=True):
            if value is None:
                continue
            if name in given:
                raise PluginError(
                    plugin, f"cosell_report_facts gave {name}, which plugin {given[name]!r} gives already"
                )
            _check_fact(plugin, name, value)
            given[name] = plugin
            merged[name] = value
    return ReportFacts(**merged)


HOOK = "cosell_report_facts"
_AMOUNT_FACTS = ("won_revenue", "won_margin", "margin_known_revenue", "sourced_pipeline", "attainment")


def _check_fact(plugin: str, name: str, value: object) -> None:
    """The amounts among a plugin's facts are finite Decimals cosell can keep (a fact is a sum of amount ×
    share or a ratio, so it need not be in cents); ``guarded`` and ``campaigns`` hold their own types."""
    if name in _AMOUNT_FACTS:
        _check_amount(plugin, value, name)
    elif name in ("guarded", "campaigns"):
        kind = GuardedDeal if name == "guarded" else CampaignFunds
        if not isinstance(value, tuple) or not all(isinstance(item, kind) for item in value):
            raise PluginError(plugin, f"{HOOK}: {name} is {value!r}, not a tuple of {kind.__name__}")
        for item in value:
            if isinstance(item, GuardedDeal):
                _check_amount(plugin, item.amount, "guarded deal {!r}: amount", item.deal_id)
            else:
                for f in _CAMPAIGN_AMOUNTS:
                    _check_amount(plugin, getattr(item, f), "campaign {!r}: " + f, item.campaign)


def _check_amount(plugin: str, amount: object, what: str, *named: object) -> None:
    """``what`` (a format of the ``named`` items) names the amount when it is wrong: the words are made
    only then, not for each of a run's many right amounts."""
    problem = amount_problem(amount, cents=False, ints=True)
    if problem is not None:
        raise PluginError(plugin, f"{HOOK}: {what.format(*named)} {problem}")


_CAMPAIGN_AMOUNTS = ("funded", "released", "pending", "pipeline")
_FACT_NAMES = tuple(f.name for f in fields(ReportFacts))
_fact_values = attrgetter(*_FACT_NAMES)
"""A ReportFacts' fields, in the order of ``_FACT_NAMES``, in one call."""


# --- at run time ------------------------------------------------------------------------------------


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _next_tier(program: Program, standing: PartnerStanding) -> dict[str, Any] | None:
    """The tier above the assigned one: its min_score and each ``requires`` with the partner's value."""
    rank = program.tier_rank(standing.tier.assigned)
    if program.tier(standing.tier.assigned) is None or rank + 1 >= len(program.tiers):
        return None
    tier = program.tiers[rank + 1]
    return {
        "tier": tier.name,
        "min_score": str(tier.min_score),
        "requires": [
            [metric, _text(standing.metrics.get(metric)), str(needed)]
            for metric, needed in tier.requires.items()
        ],
    }


def partner_doc(
    facts: ReportFacts, partner: PartnerFacts, standing: PartnerStanding, projected: Decimal, program: Program
) -> dict[str, Any]:
    """One partner's report facts as the ledger keeps them (JSON-ready)."""
    p = partner.partner
    return {
        "status": p.status,
        "exit_on": None if p.exit_on is None else p.exit_on.isoformat(),
        "previous": standing.tier.previous,
        "exception": None if standing.tier.exception is None else standing.tier.shown,
        "projected": str(projected),
        "next": _next_tier(program, standing),
        "won_revenue": _text(facts.won_revenue),
        "won_margin": _text(facts.won_margin),
        "margin_known_revenue": _text(facts.margin_known_revenue),
        "sourced_pipeline": _text(facts.sourced_pipeline),
        "won_deals": facts.won_deals,
        "lost_deals": facts.lost_deals,
        "days_to_win": None if facts.days_to_win is None else list(facts.days_to_win),
        "attainment": _text(facts.attainment),
        "guarded": None
        if facts.guarded is None
        else [
            [g.deal_id, g.deal_name, str(g.amount), _text(g.discount_pct), _text(g.margin_pct), g.action]
            for g in facts.guarded
        ],
        "campaigns": None
        if facts.campaigns is None
        else [
            [c.campaign, str(c.funded), str(c.released), str(c.pending), str(c.pipeline)]
            for c in facts.campaigns
        ],
    }


def tiers_doc(program: Program, *variants: Program) -> list[dict[str, Any]]:
    """The program's tiers, lowest first, as the report shows them (benefits where the program lists
    them); under a pilot, the variant's tiers the program lacks too, placed by their ``min_score``."""
    tiers = list(program.tiers)
    names = {tier.name for tier in tiers}
    for variant in variants:
        added = [tier for tier in variant.tiers if tier.name not in names]
        names.update(tier.name for tier in added)
        tiers = sorted([*tiers, *added], key=lambda tier: tier.min_score)  # stable: the program's first
    return [
        {
            "name": tier.name,
            "min_score": str(tier.min_score),
            "quota": str(tier.quota),
            "mdf_budget": str(tier.mdf_budget),
            "benefits": list(tier.benefits),
        }
        for tier in tiers
    ]


EXITED = "exited"
"""The key, among a period's recorded totals, of how many partners that had left the program by the
period's end each tier counts (the tier each was assigned, which it no longer holds); periods recorded
before cosell kept it lack the key."""


FIELDS = (
    "status", "exit_on", "previous", "exception", "projected", "next", "won_revenue", "won_margin", "margin_known_revenue",
    "sourced_pipeline", "won_deals", "lost_deals", "days_to_win", "attainment", "guarded", "campaigns",
)  # fmt: skip
"""The per-partner facts, each kept as one column of the period's document (``partners.<field>``,
aligned with ``partners.id``): a column parses far faster than one object per partner."""


def report_doc(computation: Computation, plugins: Plugins) -> dict[str, Any]:
    """The period's report document: the tiers, and every partner's facts by column."""
    report = ReportDocument(computation, plugins)
    for facts, standing in zip(computation.facts, computation.standings, strict=True):
        report.add(facts, standing)
    return report.doc()


class ReportDocument:
    """The period's report document (:func:`report_doc`), added to a partner at a time, so that a run can
    gather a partner's report facts while its deals are at hand for its statement's."""

    def __init__(self, computation: Computation, plugins: Plugins) -> None:
        self._computation = computation
        self._plugins = plugins
        self._implementations = plugins.implementations(HOOK)
        self._projected: dict[str, Decimal] = {}
        for projection in computation.projections:
            if not projection.withheld:
                self._projected[projection.partner_id] = (
                    self._projected.get(projection.partner_id, Decimal(0)) + projection.amount
                )
        self._columns: dict[str, list[Any]] = {"id": [], **{name: [] for name in FIELDS}}
        self._every: list[ReportFacts] = []
        self._exited: dict[str, int] = {}

    def add(self, facts: PartnerFacts, standing: PartnerStanding) -> None:
        """The facts of one partner of the run, with its standing."""
        computation = self._computation
        lines = computation.lines.get(facts.id, ())
        own = computation.context_of(facts.id)  # a pilot's test arm: the variant's tiers, quotas, rules
        merged = merged_facts(self._plugins, facts, standing, lines, own, self._implementations)
        self._every.append(merged)
        doc = partner_doc(merged, facts, standing, self._projected.get(facts.id, Decimal(0)), own.program)
        columns = self._columns
        columns["id"].append(facts.id)
        for name in FIELDS:
            columns[name].append(doc[name])
        if facts.partner.left_by(computation.context.period.end):
            self._exited[standing.tier.assigned] = self._exited.get(standing.tier.assigned, 0) + 1

    def doc(self) -> dict[str, Any]:
        """The document of the partners added so far."""
        computation = self._computation
        return {
            "version": VERSION,
            "tiers": tiers_doc(
                computation.context.program,
                *(() if computation.variant_context is None else (computation.variant_context.program,)),
            ),
            "totals": {**totals_doc(self._every), EXITED: dict(sorted(self._exited.items()))},
            # Kept as JSON text inside the document: a report reads the program-wide totals of every
            # period it shows, and parses the partners of its own period only.
            "partners": json.dumps(self._columns, separators=(",", ":")),
        }


def _total(values: Iterable[Decimal | int | None]) -> str | None:
    """The sum as exact text; None when any partner's value is missing (a plugin did not give it)."""
    total = Decimal(0)
    for value in values:
        if value is None:
            return None
        total += value
    return str(total)


def totals_doc(every: Sequence[ReportFacts]) -> dict[str, Any]:
    """The period's program-wide facts: sums over the partners, the median days to win over every won
    deal of every partner, and the MDF figures per campaign."""
    days = [f.days_to_win for f in every]
    campaigns: dict[str, list[Decimal]] = {}
    for f in every:
        for c in f.campaigns or ():
            row = campaigns.setdefault(c.campaign, [Decimal(0)] * 4)
            for i, value in enumerate((c.funded, c.released, c.pending, c.pipeline)):
                row[i] += value
    return {
        **{
            name: _total(getattr(f, name) for f in every)
            for name in (
                "won_revenue",
                "won_margin",
                "margin_known_revenue",
                "sourced_pipeline",
                "won_deals",
                "lost_deals",
            )
        },
        "median_days_to_win": None
        if any(d is None for d in days)
        else _text(median(d for ds in days if ds is not None for d in ds)),
        "days_recorded": all(d is not None for d in days),
        "campaigns": [[name, *(str(v) for v in row)] for name, row in sorted(campaigns.items())],
    }


def with_report(
    statement: tuple[str, Mapping[str, str]], computation: Computation, plugins: Plugins
) -> tuple[str, Mapping[str, str]]:
    """The statement record (as ``cosell.statements.facts.encode`` makes it) with the report's
    document added to its program-wide text."""
    return with_report_doc(statement, report_doc(computation, plugins))


def with_report_doc(
    statement: tuple[str, Mapping[str, str]], doc: dict[str, Any]
) -> tuple[str, Mapping[str, str]]:
    """The statement record with the report's document ``doc`` (:func:`report_doc`) added to its
    program-wide text."""
    run_text, partner_texts = statement
    run_doc = json.loads(run_text)
    run_doc[REPORT_KEY] = doc
    return json.dumps(run_doc, sort_keys=True, separators=(",", ":")), partner_texts


def recorded(run_doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The report's document in a period's statement run record (parsed); None when the run recorded
    none (it ran before cosell recorded the report's facts)."""
    found: Any = run_doc.get(REPORT_KEY)
    return found if isinstance(found, dict) else None


def median(values: Iterable[int]) -> Decimal | None:
    """The middle value, or the mean of the middle two; None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return Decimal(ordered[mid])
    return (Decimal(ordered[mid - 1]) + Decimal(ordered[mid])) / 2
