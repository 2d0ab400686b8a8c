"""What a statement needs that only the run knows, recorded with the run.

A run stores, next to its lines and standings, each partner's score parts (metric, value, target,
weight, fraction, better) with the scale, the tier goals the statement shows (the tier held under the
demotion grace, the next tier: min_score, every ``requires`` and its benefits), the assigned tier's
benefits, the names of the deals its lines and projections name, the day a partner that has left the
program left it, the program's per-partner cap and budget figures, whether the budget scaled the program
and by what factor, the metrics the program uses, and the line kinds' declarations. Keys added after the
first of these were recorded are optional when read: a run stored before lacks them ("not recorded"). A
statement of a closed period renders from these, so editing the program file afterwards changes no statement. The ledger keeps them as JSON text
(docs/ledger.md); this module makes and reads that text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..errors import PluginError
from ..merges import former_ids
from ..money import amount_problem
from ..pluginmanager import guarded
from ..results import EarlierLines, LineKind, ScorePart, TierException
from ..settlement import Settlement, decode_settlement, encode_settlement, settlement_of

if TYPE_CHECKING:
    from ..computation import Computation
    from ..context import PartnerFacts, RunContext
    from ..pluginmanager import Plugins
    from ..program import Program
    from ..results import PartnerStanding, PayoutLine, Projection


@dataclass(frozen=True, slots=True)
class SectionRow:
    """One figure or item of a section: a label, an amount (None when it has none) and a sentence."""

    label: str
    amount: Decimal | None = None
    text: str = ""


@dataclass(frozen=True, slots=True)
class StatementSection:
    """A part of a statement a plugin contributes (``cosell_statement_sections``), recorded with the run
    and shown the same way by every format: a title, figures, a table, what is still pending, and the
    lines of the plugin's ``kinds``."""

    title: str
    card: SectionRow | None = None
    """The figure the statement's summary shows for the section (html: a card)."""
    totals: tuple[SectionRow, ...] = ()
    """Figures: label and amount."""
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    """A table: one tuple of cell texts a row, as many cells as ``columns``."""
    pending: tuple[SectionRow, ...] = ()
    """What is still due: the item, the amount still due and what it waits for."""
    kinds: tuple[str, ...] = ()
    """The line kinds whose lines the section shows (with their total)."""
    summary: str = ""
    """One sentence summing the section up (the terminal prints it)."""
    empty: str = ""
    """What the section says when it has no row, no figure and no line."""


@dataclass(frozen=True, slots=True)
class GoalRecord:
    """A tier a partner aims at: its min_score and every ``requires`` (metric, needed value).
    ``keep``: the partner holds the tier and is not eligible for it (under the demotion grace, or by the
    record's ``tier_exception``)."""

    tier: str
    min_score: Decimal
    requires: tuple[tuple[str, Decimal], ...]
    keep: bool = False
    benefits: tuple[str, ...] | None = None
    """The tier's ``benefits``; None when the run did not record them."""


@dataclass(frozen=True, slots=True)
class PartnerRecord:
    """One partner's recorded score parts and tier goals."""

    parts: tuple[ScorePart, ...]
    scale: Decimal | None
    """The program's scoring scale; None when the program has no scoring section."""
    goals: tuple[GoalRecord, ...]
    top_tier: bool
    sections: tuple[StatementSection, ...] = ()
    """What plugins add to the partner's statement (``cosell_statement_sections``)."""
    tier_exception: TierException | None = None
    """The approved tier exception the partner's tier was held by, if any."""
    settlement: Settlement | None = None
    """For a partner exiting or exited: what is still owed, may be owed or may be taken back."""
    benefits: tuple[str, ...] | None = None
    """The assigned tier's ``benefits``; None when the run did not record them."""
    deal_names: Mapping[str, str] | None = None
    """Deal id → name of the deals the partner's lines and projections speak of; None when not recorded."""
    own_cap: bool = False
    """True when another program than the run's computed the partner (a pilot's variant):
    ``per_partner_cap`` is then its cap, which the statement shows instead of the run's."""
    per_partner_cap: Decimal | None = None
    former_ids: tuple[str, ...] = ()
    """The ids the partner had before the CRM merged them into it (``RecordSet.merges``): the ledger's
    earlier lines and approved adjustments may name them."""
    left_on: date | None = None
    """The partner's ``exit_on`` when it had left the program by the period's end (it then holds no tier:
    no goals, no benefits); None when it had not, or when the run did not record it."""
    scored_by: str | None = None
    """The plugin that gave the score (``cosell_score``) when it is not cosell's own: ``parts`` are then
    the ones that plugin gave, and the program's scoring section did not compute the score. None when
    the program's scoring computed it (and for runs stored before this was recorded)."""


@dataclass(frozen=True, slots=True)
class RunRecord:
    """What a run records for its statements: program-wide figures and the line kinds."""

    program: str
    currency: str
    per_partner_cap: Decimal | None
    program_budget: Decimal | None
    line_kinds: tuple[LineKind, ...]
    partners: Mapping[str, PartnerRecord] = field(default_factory=dict)
    used_metrics: tuple[str, ...] | None = None
    """The metrics the program scores or a tier ``requires``; None when the run did not record them."""
    budget_scaled: bool | None = None
    """Whether the program budget scaled the program's lines this period; None when the run did not
    record it."""
    budget_factor: Decimal | None = None
    """The factor it scaled them by (:func:`budget_factor`); None when it scaled nothing."""
    fx: Mapping[str, Decimal] | None = None
    """The exchange rates the run converted amounts with (the program's ``fx``); None when the run did
    not record them. A deal's incentive field shows each line at the rates of the period that paid it."""


# --- at run time ------------------------------------------------------------------------------------


def partner_record(
    program: Program,
    score: Decimal,
    parts: Sequence[ScorePart],
    eligible: str,
    assigned: str,
    sections: Sequence[StatementSection] = (),
    tier_exception: TierException | None = None,
    settlement: Settlement | None = None,
    deal_names: Mapping[str, str] | None = None,
    left_on: date | None = None,
) -> PartnerRecord:
    """The score's own parts, the goals of the tier held without being eligible for it (under the grace or
    by a tier exception) and of the tier above with their benefits, the assigned tier's benefits, the
    plugins' sections, the tier exception, the settlement and the names of the deals the lines speak
    of. A partner that has left (``left_on``, its exit day) has no goal and no benefit: it is never
    promoted, and its account's benefits field is cleared."""
    scale = program.scoring.scale if program.scoring else None
    names = dict(deal_names) if deal_names is not None else None
    if not assigned or left_on is not None:
        return PartnerRecord(
            tuple(parts),
            scale,
            (),
            False,
            tuple(sections),
            tier_exception,
            settlement,
            (),
            names,
            left_on=left_on,
        )
    rank = program.tier_rank(assigned)
    held = program.tier(assigned)
    goals = []

    def goal(index: int, *, keep: bool = False) -> GoalRecord:
        tier = program.tiers[index]
        return GoalRecord(tier.name, tier.min_score, tuple(tier.requires.items()), keep, tier.benefits)

    if program.tier(assigned) is not None and program.tier_rank(eligible) < rank:
        goals.append(goal(rank, keep=True))
    top = rank + 1 >= len(program.tiers)
    if not top:
        goals.append(goal(rank + 1))
    benefits = held.benefits if held is not None else ()
    return PartnerRecord(
        tuple(parts), scale, tuple(goals), top, tuple(sections), tier_exception, settlement, benefits, names
    )


def used_metrics(program: Program) -> tuple[str, ...]:
    """The metrics the program uses: those it scores, then those a tier ``requires``, each once."""
    scored = list(program.scoring.metrics) if program.scoring else []
    required = [m for tier in program.tiers for m in tier.requires]
    return tuple(dict.fromkeys([*scored, *required]))


def deal_names_of(
    partner: PartnerFacts, lines: Sequence[PayoutLine], projections: Sequence[Projection]
) -> dict[str, str]:
    """Names of the partner's deals that its lines or projections name: by ``deal_id``, or where a line's
    explanation names them as ``named_deals`` reads them (``Name (id)``, a parenthesised list of ids, an
    id with a letter standing as a word), where a statement shows the name in the id's place."""
    named = {line.deal_id for line in lines if line.deal_id} | {p.deal_id for p in projections}
    text = "\n".join(line.explanation for line in lines)
    # The text's words and listed ids are found once; a deal's id is then looked up, not searched for in
    # the text (a partner's explanations run to a thousand characters, its deals to hundreds). An id of
    # other characters than a word's is searched for as a word. Finding the words took a third of a run's
    # statement record with the pattern alone (0.6 s of CPU at 300,000 deals); see ``words_of``.
    words = words_of(text)
    parenthesised = [inner for line in lines for inner in _LIST.findall(line.explanation)]
    listed = {item for inner in parenthesised for item in listed_ids(inner)}
    alone = set(parenthesised)  # "(id)": the deal's only where its name stands before it
    names = {}
    for pd in partner.deals:
        deal = pd.deal
        deal_id = deal.id
        if (
            deal_id in named
            or deal_id in listed
            or (deal_id in alone and f"{deal.name} ({deal_id})" in text)
            or (deal_id in words and read_as_word(deal_id))
            # an id of letters and digits only (``isalnum``, far cheaper than the pattern) is a word of
            # the text only among ``words``: most of a partner's deals stop here
            or (
                not deal_id.isalnum()
                and read_as_word(deal_id)
                and not _WORD.fullmatch(deal_id)
                and _is_word_in(deal_id, text)
            )
        ) and deal.name:
            names[deal_id] = deal.name
    return names


_WORD = re.compile(r"[\w-]+")
"""A word as a statement reads deal ids in text: letters, digits, ``_`` and ``-``."""

_ASCII_WORD_BYTES = bytes(c if chr(c).isalnum() or chr(c) in "_-" else ord(" ") for c in range(128)) + bytes(
    range(128, 256)
)
"""A translation of UTF-8 bytes that turns each ASCII character a word cannot hold into a space."""


def words_of(text: str) -> set[str]:
    """The words of ``text`` (``set(_WORD.findall(text))``), found about three times faster: C code turns
    each ASCII character a word cannot hold into a space and splits the text at spaces; a piece holding
    a character beyond ASCII (which may or may not be a word's, ``é`` or ``×``) is split by the pattern.
    A piece is bounded by characters no word holds (whitespace among them), so the words found in a
    piece are the text's."""
    pieces = set(
        text.encode("utf-8", "surrogatepass")
        .translate(_ASCII_WORD_BYTES)
        .decode("utf-8", "surrogatepass")
        .split()
    )
    words = {piece for piece in pieces if piece.isascii()}
    for piece in pieces:
        if not piece.isascii():
            words.update(_WORD.findall(piece))
    return words


_LIST = re.compile(r"\(([^()]*)\)")
"""A parenthesised text without parentheses inside: ``(D2001, D2002)``, ``(D1001)`` of ``Name (D1001)``."""

_MORE = re.compile(r" and \d+ more$")


def listed_ids(inner: str) -> list[str]:
    """The items of a parenthesised list as a baseline writes its deals (``D1, D2`` or ``1, 2 and 3
    more``): what stands between the commas, the closing "and N more" left out. A parenthesis holding
    one item and no "and N more" is no list (``(3)`` is a number of the text, a footnote or a count, as
    a person may write it in an adjustment's reason or a CRM in a campaign's name): no items."""
    items = _MORE.sub("", inner).split(", ")
    return items if len(items) > 1 or _MORE.search(inner) else []


def read_as_word(deal_id: str) -> bool:
    """Whether ``deal_id`` standing alone as a word is read as its deal: only an id with a letter
    (``D1001``, a Salesforce id). An id without one (HubSpot's are digits) could be any number of the
    text, an amount, a rate or a count (``share 1``, ``3,499.20``), so it is read only as ``Name (id)`` or
    in a list of ids."""
    return any(c.isalpha() for c in deal_id)


def as_word(deal_id: str) -> str:
    """A regular expression of ``deal_id`` standing as a word (no letter, digit, ``_`` or ``-`` next
    to it): where ``named_deals`` reads an id with a letter as the deal's name."""
    return rf"(?<![\w-]){re.escape(deal_id)}(?![\w-])"


def _is_word_in(deal_id: str, text: str) -> bool:
    return deal_id in text and re.search(as_word(deal_id), text) is not None


def statement_sections(
    plugins: Plugins,
    partner: PartnerFacts,
    lines: Sequence[PayoutLine],
    context: RunContext,
    implementations: Sequence[tuple[str, Any]] | None = None,
) -> tuple[StatementSection, ...]:
    """Every plugin's sections for one partner's statement (``cosell_statement_sections``), in call
    order. A plugin returning anything but StatementSections is a PluginError naming it.
    ``implementations``: the hook's, as ``plugins.implementations`` gives them (looked up once a run)."""
    if implementations is None:
        implementations = plugins.implementations(SECTIONS_HOOK)
    found: list[StatementSection] = []
    kwargs = {
        "partner_id": partner.id,
        "partner": partner,
        "lines": tuple(lines),
        "earlier_lines": EarlierLines(context.history, partner.id),
        "context": context,
    }
    for plugin, call in implementations:
        result = guarded(plugin, SECTIONS_HOOK, call, kwargs)
        if result is None:
            continue
        if isinstance(result, StatementSection) or not isinstance(result, Iterable):
            raise PluginError(
                plugin,
                f"cosell_statement_sections must return an iterable of StatementSection, not {result!r}",
            )
        for section in result:
            if not isinstance(section, StatementSection):
                raise PluginError(
                    plugin, f"cosell_statement_sections returned {section!r}, not a StatementSection"
                )
            _check_rows(plugin, section)
            found.append(section)
    return tuple(found)


SECTIONS_HOOK = "cosell_statement_sections"


def _check_rows(plugin: str, section: StatementSection) -> None:
    """Each figure of a section is a SectionRow whose amount is None or a finite Decimal cosell can keep
    (a figure may be points or a count, so it need not be in cents)."""
    rows = (
        ((section.card,) if section.card is not None else ()) + tuple(section.totals) + tuple(section.pending)
    )
    for row in rows:
        if not isinstance(row, SectionRow):
            raise PluginError(
                plugin, f"{SECTIONS_HOOK}: section {section.title!r} has {row!r}, not a SectionRow"
            )
        if row.amount is None:
            continue
        problem = amount_problem(row.amount, cents=False, ints=True)
        if problem is not None:
            raise PluginError(
                plugin, f"{SECTIONS_HOOK}: section {section.title!r}, row {row.label!r}: the amount {problem}"
            )


def budget_factor(computation: Computation) -> Decimal | None:
    """The factor the program budget scaled every partner's total subject to it by: the budget ÷ the sum
    of the partners' positive totals of lines inside the budget (the lines of kinds declared
    ``in_budget``), when that sum is above the budget and the run's lines hold a line of a budget kind
    (declared ``adjustment`` and not ``in_budget``), the one sign that a budget rule did scale; None
    otherwise."""
    context = computation.context
    caps = context.program.caps
    if caps is None or caps.program_budget is None:
        return None
    kinds = context.line_kinds
    inside = frozenset(name for name, kind in kinds.items() if kind.in_budget)
    budget = frozenset(name for name, kind in kinds.items() if kind.adjustment and not kind.in_budget)
    whole = Decimal(0)
    scaled = False
    for lines in computation.lines.values():
        total = sum((line.amount for line in lines if line.kind in inside), Decimal(0))
        if total > 0:
            whole += total
        scaled = scaled or any(line.kind in budget for line in lines)
    if not scaled or whole <= caps.program_budget:
        return None
    return caps.program_budget / whole


def run_record(computation: Computation, plugins: Plugins, only: str | None = None) -> RunRecord:
    """What a run records for the statements of its partners (only partner ``only``, if given)."""
    partners = {facts.id: record for facts, _, record in partner_records(computation, plugins, only)}
    return replace(run_wide_record(computation), partners=partners)


def run_wide_record(computation: Computation) -> RunRecord:
    """The program-wide part of :func:`run_record`: its figures and line kinds, and no partner."""
    context = computation.context
    program = context.program
    caps = program.caps
    factor = budget_factor(computation)
    return RunRecord(
        program=program.program,
        currency=program.currency,
        per_partner_cap=caps.per_partner if caps else None,
        program_budget=caps.program_budget if caps else None,
        line_kinds=tuple(context.line_kinds.values()),
        used_metrics=used_metrics(program),
        budget_scaled=factor is not None,
        budget_factor=factor,
        fx=dict(program.fx),
    )


def partner_records(
    computation: Computation, plugins: Plugins, only: str | None = None
) -> Iterator[tuple[PartnerFacts, PartnerStanding, PartnerRecord]]:
    """Each partner's record with its facts and standing, in the run's order (only partner ``only``, if
    given), made as the iteration reaches it."""
    context = computation.context
    projections: dict[str, list[Projection]] = {}
    for projection in computation.projections:
        projections.setdefault(projection.partner_id, []).append(projection)
    implementations = plugins.implementations(SECTIONS_HOOK)
    formers = former_ids(context.records)
    for facts, standing in zip(computation.facts, computation.standings, strict=True):
        if only is not None and facts.id != only:
            continue
        lines = computation.lines.get(facts.id, ())
        arm = computation.context_of(facts.id)
        sections = statement_sections(plugins, facts, lines, arm, implementations)
        if computation.pilot is not None:
            sections += (computation.pilot.section(facts.id),)
        record = partner_record(
            arm.program,
            standing.score.value,
            standing.score.parts,
            standing.tier.eligible,
            standing.tier.assigned,
            sections,
            standing.tier.exception,
            settlement_of(plugins, facts, standing, lines, arm),
            deal_names_of(facts, lines, projections.get(facts.id, ())),
            facts.partner.exit_on if facts.partner.left_by(context.period.end) else None,
        )
        if arm is not context:
            arm_caps = arm.program.caps
            cap = arm_caps.per_partner if arm_caps else None
            record = replace(record, own_cap=True, per_partner_cap=cap)
        if facts.id in formers:
            record = replace(record, former_ids=formers[facts.id])
        if facts.id in computation.scored_by:
            record = replace(record, scored_by=computation.scored_by[facts.id])
        yield facts, standing, record


# --- as the ledger stores it ------------------------------------------------------------------------


def _number(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def encode_run(record: RunRecord) -> str:
    """The run-wide part as JSON text (program, currency, cap and budget figures, whether and by what
    factor the budget scaled the program, line kinds, used metrics, the exchange rates)."""
    return json.dumps(
        {
            "program": record.program,
            "currency": record.currency,
            "per_partner_cap": _number(record.per_partner_cap),
            "program_budget": _number(record.program_budget),
            "line_kinds": [asdict(kind) for kind in record.line_kinds],
            "used_metrics": None if record.used_metrics is None else list(record.used_metrics),
            "budget_scaled": record.budget_scaled,
            "budget_factor": _number(record.budget_factor),
            "fx": None if record.fx is None else {k: str(v) for k, v in sorted(record.fx.items())},
        },
        sort_keys=True,
    )


_JSON = json.JSONEncoder(sort_keys=True, check_circular=False)
"""What ``json.dumps(doc, sort_keys=True)`` writes, without building an encoder per partner."""


def encode_partner(record: PartnerRecord) -> str:
    """One partner's part as JSON text (score parts, scale, tier goals)."""
    return _JSON.encode(
        {
            "parts": [
                {
                    "metric": p.metric,
                    "value": _number(p.value),
                    "target": str(p.target),
                    "weight": str(p.weight),
                    "fraction": str(p.fraction),
                    "better": p.better,
                }
                for p in record.parts
            ],
            "scale": _number(record.scale),
            "goals": [
                {
                    "tier": g.tier,
                    "min_score": str(g.min_score),
                    "requires": [[metric, str(needed)] for metric, needed in g.requires],
                    "keep": g.keep,
                    "benefits": _texts(g.benefits),
                }
                for g in record.goals
            ],
            "top_tier": record.top_tier,
            "sections": [_section_doc(s) for s in record.sections],
            "tier_exception": None if record.tier_exception is None else asdict(record.tier_exception),
            "settlement": None if record.settlement is None else encode_settlement(record.settlement),
            "benefits": _texts(record.benefits),
            "deal_names": None if record.deal_names is None else dict(record.deal_names),
            **(
                {"own_cap": True, "per_partner_cap": _number(record.per_partner_cap)}
                if record.own_cap
                else {}
            ),
            **({"former_ids": list(record.former_ids)} if record.former_ids else {}),
            "left_on": None if record.left_on is None else record.left_on.isoformat(),
            **({"scored_by": record.scored_by} if record.scored_by is not None else {}),
        }
    )


def _texts(texts: Sequence[str] | None) -> list[str] | None:
    return None if texts is None else list(texts)


def _tuple(texts: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if texts is None else tuple(texts)


def _row_doc(row: SectionRow) -> dict[str, Any]:
    return {"label": row.label, "amount": _number(row.amount), "text": row.text}


def _row(doc: dict[str, Any]) -> SectionRow:
    return SectionRow(doc["label"], _decimal(doc["amount"]), doc["text"])


def _section_doc(section: StatementSection) -> dict[str, Any]:
    return {
        "title": section.title,
        "card": None if section.card is None else _row_doc(section.card),
        "totals": [_row_doc(r) for r in section.totals],
        "columns": list(section.columns),
        "rows": [list(r) for r in section.rows],
        "pending": [_row_doc(r) for r in section.pending],
        "kinds": list(section.kinds),
        "summary": section.summary,
        "empty": section.empty,
    }


def _section(doc: dict[str, Any]) -> StatementSection:
    return StatementSection(
        title=doc["title"],
        card=None if doc["card"] is None else _row(doc["card"]),
        totals=tuple(_row(r) for r in doc["totals"]),
        columns=tuple(doc["columns"]),
        rows=tuple(tuple(r) for r in doc["rows"]),
        pending=tuple(_row(r) for r in doc["pending"]),
        kinds=tuple(doc["kinds"]),
        summary=doc["summary"],
        empty=doc["empty"],
    )


def decode_run(text: str, partners: Mapping[str, str]) -> RunRecord:
    """The record :func:`encode_run` and :func:`encode_partner` wrote."""
    doc: dict[str, Any] = json.loads(text)
    return RunRecord(
        program=doc["program"],
        currency=doc["currency"],
        per_partner_cap=_decimal(doc["per_partner_cap"]),
        program_budget=_decimal(doc["program_budget"]),
        line_kinds=tuple(LineKind(**kind) for kind in doc["line_kinds"]),
        partners={pid: decode_partner(body) for pid, body in partners.items()},
        # keys added after schema version 3 shipped: a run stored before has none ("not recorded")
        used_metrics=_tuple(doc.get("used_metrics")),
        budget_scaled=doc.get("budget_scaled"),
        budget_factor=_decimal(doc.get("budget_factor")),
        fx=None if doc.get("fx") is None else {k: Decimal(v) for k, v in doc["fx"].items()},
    )


def decode_partner(text: str) -> PartnerRecord:
    doc: dict[str, Any] = json.loads(text)
    return PartnerRecord(
        parts=tuple(
            ScorePart(
                p["metric"],
                _decimal(p["value"]),
                Decimal(p["target"]),
                Decimal(p["weight"]),
                Decimal(p["fraction"]),
                p["better"],
            )
            for p in doc["parts"]
        ),
        scale=_decimal(doc["scale"]),
        goals=tuple(
            GoalRecord(
                g["tier"],
                Decimal(g["min_score"]),
                tuple((m, Decimal(n)) for m, n in g["requires"]),
                g["keep"],
                _tuple(g.get("benefits")),
            )
            for g in doc["goals"]
        ),
        top_tier=doc["top_tier"],
        sections=tuple(_section(s) for s in doc["sections"]),
        # runs recorded before tier exceptions and settlements have neither key
        tier_exception=TierException(**doc["tier_exception"]) if doc.get("tier_exception") else None,
        settlement=decode_settlement(doc["settlement"]) if doc.get("settlement") else None,
        benefits=_tuple(doc.get("benefits")),
        deal_names=doc.get("deal_names"),
        own_cap=doc.get("own_cap", False),
        per_partner_cap=_decimal(doc.get("per_partner_cap")),
        former_ids=tuple(doc.get("former_ids", ())),
        # a run stored before exits were recorded has no left_on: its partners read as tier holders
        left_on=date.fromisoformat(doc["left_on"]) if doc.get("left_on") else None,
        scored_by=doc.get("scored_by"),
    )


def encode(record: RunRecord) -> tuple[str, dict[str, str]]:
    """The record as ``Ledger.record_run`` stores it: (program-wide text, partner id → text)."""
    return encode_run(record), {pid: encode_partner(p) for pid, p in record.partners.items()}
