"""What the engine computes: metric values, scores, tier decisions and payout lines."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Protocol, overload

from .periods import Period


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
    """Each scoring metric's contribution, in the program's order. What ``cosell explain`` and the
    statements show of the score: for a plugin's score, the parts that plugin gives (none: only the
    score and the plugin's name)."""


@dataclass(frozen=True, slots=True)
class TierDecision:
    """The tier a partner is eligible for this period and the one it is assigned, with the reason."""

    eligible: str
    """The highest tier whose ``min_score`` and requirements the partner meets this period."""
    assigned: str
    """The tier the partner holds this period (the previous one during a demotion grace period)."""
    previous: str | None
    """The tier before this period (ledger, else the CRM's), or None; left None by a plugin, the run
    fills it from the ledger, else the CRM."""
    periods_below: int
    """Consecutive periods the eligible tier has been below the held one."""
    reason: str
    """One sentence saying why (statements and ``cosell explain`` show it)."""
    exception: TierException | None = None
    """The approved tier exception that lifted ``assigned`` above the tier earned; None when it is earned.
    The run sets it (a plugin's decision is lifted like the built-in rule's)."""

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
    ``adjustment``: the kind scales earlier lines down to a limit (the cap, the budget).

    Flags no statement step can show are refused when the plugins load: a kind outside period earnings
    counting toward the cap or the budget, an adjustment counting toward the cap or outside period
    earnings, and a second adjustment kind on one side of the budget (docs/plugins.md)."""

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
    """The kind scales the partner's earlier lines down to a limit: the statement's per-partner cap step
    when ``in_budget`` (the budget sees capped totals), its program budget step otherwise. One kind takes
    each step (the built-in per-partner cap and program budget); it counts in period earnings and not toward the cap. A
    plugin's own amount computed in ``cosell_adjustments`` (a deduction, say) leaves it False: its lines
    are then shown as a kind of their own."""
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
    """True when winning it would pay nothing: the discount guardrail would withhold it, or its commission
    was paid before it was re-opened."""


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


def exited_label(tier: str, most: int | None = None) -> str:
    """How a tier reads once the partner has left the program: ``Exited (was Silver)``. With ``most``,
    a tier name too long for ``most`` characters is shortened, ending in "…"."""
    before, after = "Exited (was ", ")"
    return before + (tier if most is None else _shortened(tier, most - len(before) - len(after))) + after


def tier_shown(decision: TierDecision, *, left: bool) -> str:
    """A partner's tier as the run, its statement, the report and compare show it: "Exited (was Silver)"
    once the partner has left the program (``left``: exiting or exited, ``exit_on`` by the period's end),
    else the decision's own label (``Gold``, or ``Gold (exception until 2027-Q2: <reason>)``)."""
    return exited_label(decision.assigned) if left else decision.shown


def tier_label(tier: str, exception: TierException | None, most: int | None = None) -> str:
    """``Gold``, or ``Gold (exception until 2027-Q2: <reason>)`` for a tier held by exception. With
    ``most``, the whole label fits in ``most`` characters (a CRM text field's length): the reason is
    shortened first (ending in "…"), then left out, and only a tier name too long even for that is
    shortened itself; the period is never cut."""
    if exception is None:
        return tier if most is None or len(tier) <= most else _shortened(tier, most)
    reason = " ".join(exception.reason.split())
    head = f"{tier} (exception until {exception.until}: "
    if most is not None and len(head) + len(reason) + 1 > most:
        room = most - len(head) - 2
        if room < 1:  # a tier name too long to leave room for any reason
            after = f" (exception until {exception.until})"
            return _shortened(tier, most - len(after)) + after
        reason = reason[:room].rstrip() + "…"
    return f"{head}{reason})"


def _shortened(text: str, most: int) -> str:
    """``text`` in at most ``most`` characters, ending in "…" when cut."""
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


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
    """A read-only view of the ledger before the period being run (what rules may look back at).

    Rules ask it questions (``last_tiers``, ``lines_of`` with ``kinds``, ``periods_of``, ``paid_deal_ids``,
    ``named_deal_ids``, ``has_tag``, ``lines_on_deals``, ``lines_naming``, ``fx_of``): a run's history
    reads from the ledger only what is asked, the first time it is asked, for every partner at once.
    ``tiers`` and ``lines`` hold everything, read in full when first used: built for tests,
    ``History(lines=..., tiers=...)`` answers every question from them."""

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
    crm_tiers: Mapping[str, str | None] = field(default_factory=lambda: MappingProxyType({}))
    """Each partner's tier field as the first stored run that read the partner found it (None: empty), by
    partner id; a partner no stored run has read is not in it. The run reads a partner's ``crm_tier`` as
    this, not as the field holds it now: cosell may have written its own tier there since."""
    fx_rates: Mapping[str, Mapping[str, Decimal]] = field(default_factory=lambda: MappingProxyType({}))
    """The exchange rates each earlier period's run converted amounts with (its program's ``fx``: units of
    program currency for one unit of each currency; the program currency, always 1, is not in it), by
    period key (``fx_of``). A period it lacks was run before cosell recorded them."""

    def fx_of(self, period: str) -> Mapping[str, Decimal] | None:
        """The ``fx`` table the run of earlier period ``period`` converted amounts with; None when that
        run recorded none (it ran before cosell recorded them)."""
        return self.fx_rates.get(period)

    def allowing(self, allowed: Callable[[ApprovedAdjustment | TierException], bool]) -> History:
        """This history holding only the adjustments and tier exceptions ``allowed`` says a run may use
        (its program's governance would have approved them: ``cosell.governance.ApprovalCheck``), asked
        of each in the order a run's history asks; the rest is this history's."""
        return replace(
            self,
            adjustments=tuple(a for a in self.adjustments if allowed(a)),
            tier_exceptions=tuple(e for e in self.tier_exceptions if allowed(e)),
        )

    def tier_exceptions_of(self, partner_id: str) -> tuple[TierException, ...]:
        """The partner's approved tier exceptions in force in the period being run, oldest first."""
        return tuple(e for e in self.tier_exceptions if e.partner_id == partner_id)

    def tiers_of(self, partner_id: str) -> tuple[TierRecord, ...]:
        """Tier records of earlier periods, oldest first."""
        return self.tiers.get(partner_id, ())

    def last_tiers(self, partner_id: str, n: int = 1) -> tuple[TierRecord, ...]:
        """The partner's ``n`` latest tier records (fewer when it has fewer), oldest first."""
        if n < 1:
            return ()
        return self.tiers_of(partner_id)[-n:]

    def lines_of(
        self,
        partner_id: str,
        *,
        kinds: Collection[str] | None = None,
        deal_ids: Collection[str] | None = None,
    ) -> tuple[LedgerLine, ...]:
        """Payout lines of earlier periods, in period order; only those of ``kinds`` and naming one of
        ``deal_ids`` when given (ask for the kinds a rule needs: the ledger then reads only those)."""
        lines = self.lines.get(partner_id, ())
        return _only(lines, kinds, deal_ids)

    def periods_of(self, partner_id: str, kinds: Collection[str]) -> frozenset[str]:
        """The earlier periods in which the partner has a line of ``kinds`` (whatever its amount): "was
        its total capped in that period?" without reading the lines themselves."""
        return frozenset(ln.period for ln in self.lines_of(partner_id, kinds=kinds))

    def paid_deal_ids(self, partner_id: str, kind: str) -> frozenset[str]:
        """The deals the partner's lines of ``kind`` name in earlier periods (whatever their amount)."""
        return frozenset(
            ln.deal_id for ln in self.lines_of(partner_id, kinds=(kind,)) if ln.deal_id is not None
        )

    def named_deal_ids(self, kind: str) -> frozenset[str]:
        """The deals any partner's lines of ``kind`` name in earlier periods (whatever their amount): "was
        this deal paid to anyone?" for every deal at once, read once a run. Ask ``lines_naming`` about the
        few deals it holds."""
        return frozenset(
            ln.deal_id
            for lines in self.lines.values()
            for ln in lines
            if ln.deal_id is not None and ln.kind == kind
        )

    def handed_on_deal_ids(self, partner_id: str) -> frozenset[str]:
        """The deals whose earlier lines of the partner count as another partner's now: that one holds
        the deal since a merge moved it, undone since (the questions asked about the deal for the partner
        holding it answer with those lines). Empty without such merges."""
        return frozenset()

    def lines_naming(
        self, deal_ids: Collection[str], kinds: Collection[str]
    ) -> Mapping[str, tuple[LedgerLine, ...]]:
        """Every partner's lines of earlier periods of ``kinds`` that name one of ``deal_ids``, by deal id
        (a deal no such line names is not in it), each deal's lines in period order: who was paid on a
        few deals, whoever holds them now. Ask for the few deals a rule needs: the ledger reads only
        their lines."""
        wanted, deals = _kinds(kinds), _kinds(deal_ids)
        found: dict[str, list[LedgerLine]] = {}
        for lines in self.lines.values():
            for ln in lines:
                if ln.deal_id is not None and ln.deal_id in deals and ln.kind in wanted:
                    found.setdefault(ln.deal_id, []).append(ln)
        return MappingProxyType(
            {deal: tuple(sorted(lines, key=_period_start)) for deal, lines in found.items()}
        )

    def tagged_lines(self, partner_id: str, tag: str) -> tuple[LedgerLine, ...]:
        """The partner's lines of earlier periods that carry ``tag``, in period order."""
        return tuple(ln for ln in self.lines_of(partner_id) if tag in ln.tags)

    def has_tag(self, partner_id: str, tag: str) -> bool:
        """True when a line of the partner in an earlier period carries ``tag`` (a first win paid)."""
        return bool(self.tagged_lines(partner_id, tag))

    def lines_on_deals(self, kinds: Collection[str]) -> Mapping[str, tuple[LedgerLine, ...]]:
        """Every partner's lines of earlier periods of ``kinds`` that name a deal, by deal id: partners
        in the order they first appear in the history, each partner's lines in period order."""
        wanted = _kinds(kinds)
        found: dict[str, list[LedgerLine]] = {}
        for lines in self.lines.values():
            for ln in lines:
                if ln.deal_id is not None and ln.kind in wanted:
                    found.setdefault(ln.deal_id, []).append(ln)
        return MappingProxyType({k: tuple(v) for k, v in found.items()})


def _period_start(line: LedgerLine) -> date:
    return Period.parse(line.period).start


def _kinds(kinds: Collection[str]) -> frozenset[str]:
    # One kind given as a string is that kind, not its letters.
    return frozenset((kinds,)) if isinstance(kinds, str) else frozenset(kinds)


def _only(
    lines: tuple[LedgerLine, ...], kinds: Collection[str] | None, deal_ids: Collection[str] | None
) -> tuple[LedgerLine, ...]:
    """The lines of ``kinds`` naming one of ``deal_ids`` (either None: any), in their order."""
    if kinds is None and deal_ids is None:
        return lines
    wanted = None if kinds is None else _kinds(kinds)
    deals = None if deal_ids is None else _kinds(deal_ids)
    return tuple(
        ln
        for ln in lines
        if (wanted is None or ln.kind in wanted)
        and (deals is None or (ln.deal_id is not None and ln.deal_id in deals))
    )


class EarlierLines(Sequence[LedgerLine]):
    """A partner's lines of earlier periods (``cosell_statement_sections``' ``earlier_lines``), read from
    the run's history when first used: a plugin that does not look at them costs no read. ``of_kinds``
    gives only the lines of some kinds, which the ledger reads without reading the others."""

    __slots__ = ("_history", "_lines", "_partner_id")

    def __init__(self, history: History, partner_id: str) -> None:
        self._history = history
        self._partner_id = partner_id
        self._lines: tuple[LedgerLine, ...] | None = None

    def of_kinds(self, kinds: Collection[str]) -> tuple[LedgerLine, ...]:
        """The lines of ``kinds``, in period order."""
        if self._lines is not None:
            return _only(self._lines, kinds, None)
        return self._history.lines_of(self._partner_id, kinds=kinds)

    def _all(self) -> tuple[LedgerLine, ...]:
        if self._lines is None:
            self._lines = self._history.lines_of(self._partner_id)
        return self._lines

    @overload
    def __getitem__(self, index: int) -> LedgerLine: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[LedgerLine]: ...
    def __getitem__(self, index: int | slice) -> LedgerLine | Sequence[LedgerLine]:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self) -> Iterator[LedgerLine]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EarlierLines):
            return self._all() == other._all()
        if isinstance(other, tuple):
            return self._all() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"EarlierLines({self._partner_id!r})"
