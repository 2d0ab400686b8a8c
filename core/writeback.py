"""The write-back planner: which managed fields each record should hold, and which of those differ from
what the target holds. Pure: sending them is the outbox's (``cosell.outbox``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from types import MappingProxyType

from .computation import Computation
from .connector import ACCOUNT_FIELDS, DEAL_FIELDS, FieldValues, FieldWrite, RecordKey
from .fields import field_write
from .merges import aliases
from .money import exact_sum, round_cents
from .program import Tier
from .records import Partner
from .results import History, LedgerLine, PayoutLine, Projection, TierDecision, exited_label, tier_label
from .textsafe import without_nul

NOTE_LIMIT = 255
TIER_LIMIT = 80
"""The account tier field's length (the Salesforce text field ``cosell setup`` creates holds 80)."""
PROJECTED, EARNED, WITHHELD, CLAWED_BACK = "Projected", "Earned", "Withheld", "Clawed back"
_PROJECTIONS = frozenset((PROJECTED, WITHHELD))
ZERO = Decimal(0)


def none_for(fields: tuple[str, ...]) -> FieldValues:
    """A read-only mapping of None for each of ``fields``, one per set of fields: the old values of a
    change to a record the target does not hold, and what a planned write knows of the target's."""
    found = _NONE_FOR.get(fields)
    if found is None:
        found = _NONE_FOR[fields] = MappingProxyType(dict.fromkeys(fields))
    return found


_NONE_FOR: dict[tuple[str, ...], FieldValues] = {}


def planned_writes(
    computation: Computation, history: History, *, unpaid_if_won: Collection[str] = ()
) -> list[FieldWrite]:
    """Every managed field value the records should hold after this run, accounts then deals: the writes
    :func:`each_planned_write` makes, as a list."""
    return list(each_planned_write(computation, history, unpaid_if_won=unpaid_if_won))


def planned_keys(computation: Computation) -> list[RecordKey]:
    """The records :func:`each_planned_write` writes, in its order, without making the writes: every
    partner's account, then every deal read (a lost deal is cleared, an open one shows its projection or
    none, a won one what it earned or nothing). What the target holds for them is read before the writes
    are made, so that each can be compared as it is made and a million unchanged writes need not be
    kept at once (a later period's run plans every deal again)."""
    return [
        *(("account", facts.id) for facts in computation.facts),
        *(("deal", deal.id) for deal in computation.context.records.deals),
    ]


def each_planned_write(
    computation: Computation, history: History, *, unpaid_if_won: Collection[str] = ()
) -> Iterator[FieldWrite]:
    """Every managed field value the records should hold after this run, accounts then deals, one write
    a record as :func:`planned_keys` lists them, each made when it is asked for.

    A won deal holds the net of its commission and clawback lines over all periods, an open one its
    projection, a lost one nothing. Deals cosell has nothing to say about are left alone. The writes'
    old values are None (``none_for``): what the target holds is for ``changed_writes`` to compare.

    ``unpaid_if_won``: deals whose incentive cosell may have written from lines that are gone (those the
    previous run of this open period paid, those the target's latest run did not see written). Such a
    deal won and paid nothing now is cleared, whatever its fields say; another won deal paid nothing is
    cleared only where it shows a projection (one won before the ledger keeps its Earned).
    """
    program = computation.context.program
    yield from (
        field_write(
            "account",
            facts.id,
            {
                "tier": _no_nul(tier_shown(facts.partner, standing.tier, computation.context.period.end)),
                "score": f"{standing.score.value:.2f}",
                "period_earnings": f"{computation.earnings(facts.id):.2f}",
                "tier_benefits": _no_nul(
                    benefits_shown(
                        facts.partner, program.tier(standing.tier.assigned), computation.context.period.end
                    )
                ),
            },
            _UNKNOWN_ACCOUNT,
        )
        for facts, standing in zip(computation.facts, computation.standings, strict=True)
    )
    names = {f.id: f.partner.name for f in computation.facts}
    if computation.pilot is not None:  # the deal's note says which arm of the pilot paid each partner
        names = {pid: f"{name} ({computation.pilot.label(pid)})" for pid, name in names.items()}
    kinds = computation.context.line_kinds
    adjustments = {name for name, kind in kinds.items() if kind.adjustment}
    on_deals = {name for name, kind in kinds.items() if kind.deal_incentive}
    reversing = frozenset(name for name, kind in kinds.items() if kind.reverses)
    adjusted = _AdjustedPeriods(
        history,
        adjustments,
        computation.context.period.key,
        {pid for pid, lines in computation.lines.items() if any(ln.kind in adjustments for ln in lines)},
        reversing,
    )
    deal_lines: dict[str, list[LedgerLine | PayoutLine]] = defaultdict(list)
    for deal_id, earlier in history.lines_on_deals(on_deals).items():
        if deal_id:
            deal_lines[deal_id].extend(earlier)
    for line in computation.all_lines():
        if line.deal_id and line.kind in on_deals:
            deal_lines[line.deal_id].append(line)
    projections: dict[str, list[Projection]] = defaultdict(list)
    for projection in computation.projections:
        projections[projection.deal_id].append(projection)

    period_end = computation.context.period.end
    headings = {status: f"{status} if won by {period_end}: " for status in (PROJECTED, WITHHELD)}
    rates: dict[str, Decimal] = {}
    paid_at = _EarlierRates(history, rates)
    for deal in computation.context.records.deals:
        currency, status = deal.currency, deal.status
        rate = rates.get(currency)
        if rate is None:
            known = program.fx_rate(currency)  # rates are positive; None: the run refused the currency
            rate = rates[currency] = Decimal(1) if known is None else known
        if status == "lost":
            yield field_write("deal", deal.id, _CLEARED, _UNKNOWN_DEAL)
        elif status == "open":
            items = projections.get(deal.id)
            if items is None:  # no partner projects it (any more): a projection written before goes
                yield field_write("deal", deal.id, _CLEARED_IF_PROJECTED, _UNKNOWN_DEAL)
                continue
            if len(items) > 1:
                yield _projected_write(deal.id, currency, rate, items, names, headings)
                continue
            # Most open deals have one partner: _projected_write's text, written out here (this loop
            # runs once per deal, and the calls would cost more than the text).
            p = items[0]
            shown = WITHHELD if p.withheld else PROJECTED
            amount = round_cents(p.amount / rate)
            note = f"{headings[shown]}{names.get(p.partner_id, p.partner_id)}: {amount:,.2f} {currency}"
            if p.withheld:
                note += f" ({p.explanation})"
            if len(note) > NOTE_LIMIT:
                note = _cut_at_word(note)
            values = {
                # the total, sum((p.amount,), ZERO): the amount, a -0.00 made 0.00
                "incentive": f"{amount + ZERO:.2f}",
                "incentive_status": shown,
                "incentive_note": note if "\x00" not in note else without_nul(note),
            }
            yield field_write("deal", deal.id, values, _UNKNOWN_DEAL)
        elif status == "won" and deal.id in deal_lines:
            paid = deal_lines[deal.id]
            # each line in the deal's currency at the rate of the period that paid it (None: all at `rate`)
            line_rates = None if currency == program.currency else paid_at.rates(paid, currency)
            yield _won_deal_write(deal.id, currency, rate, paid, names, adjusted, reversing, line_rates)
        elif status == "won" and deal.id in unpaid_if_won:  # paid before in this period, nothing now
            yield field_write("deal", deal.id, _CLEARED, _UNKNOWN_DEAL)
        elif status == "won":  # won with nothing paid on it: a projection written before did not come true
            yield field_write("deal", deal.id, _CLEARED_IF_PROJECTED, _UNKNOWN_DEAL)


def former_partner_writes(computation: Computation, written: Collection[str]) -> list[FieldWrite]:
    """Of the accounts cosell may have written (``written``: the ids the outbox names), those this run
    computes no partner for, each with every managed field cleared: an account no longer read as a
    partner (it stopped matching the connector's partner filter, left the input file, was deleted) shows
    no tier, score or earnings of before. ``changed_writes`` then keeps only the fields the target holds
    a value in: a record it does not hold (deleted) or holds cleared already is not written.

    An account merged into another is no record of its own any more: it is left out."""
    if not written:
        return []
    computed = {facts.id for facts in computation.facts}
    merged_away = aliases(computation.context.records).partners
    return [
        field_write("account", rid, _UNKNOWN_ACCOUNT, _UNKNOWN_ACCOUNT)
        for rid in sorted(written)
        if rid not in computed and rid not in merged_away
    ]


def former_deal_writes(
    computation: Computation,
    projected: Collection[str],
    paid: Collection[str] = (),
    cleared: Collection[str] = (),
) -> list[FieldWrite]:
    """Of the deals cosell may have shown a projection on (``projected``: those the latest stored
    period's results project, and those the target's latest run did not see written), those the records
    read now do not hold, each with its projection cleared: a deal no longer read (it stopped matching
    the connector's deal filter, left the input file, was deleted) is no deal cosell considers, and shows
    no projection of before. ``changed_writes`` keeps only the fields of a target's record holding a
    projection (Projected or Withheld): a won deal's Earned stays, and a record the target does not hold
    (deleted) or holds cleared already is not written. Of ``paid`` (the deals the previous run of this
    open period paid, or its discarded runs wrote to), those no longer read are cleared whatever they
    show, as a won deal the rerun pays nothing on (``planned_writes``), unless a line of an earlier
    period names them: what that period paid stays shown, and only a projection is cleared. A deal paid
    in an earlier period alone is in neither and keeps its value. Those of ``cleared`` (a clearing the
    target's latest run left unconfirmed) are cleared whatever they show.

    A deal merged into another is no record of its own any more (HubSpot answers a write to it under
    the id of the deal it lives on as): it is left out, and the deal it lives on shows its projection."""
    if not projected and not paid and not cleared:
        return []
    records = computation.context.records
    unread = set(projected)
    unread.update(paid, cleared)
    unread.difference_update(deal.id for deal in records.deals)  # most of them, a run's open deals
    unread.difference_update(aliases(records).deals)
    history = computation.context.history
    on_deals = [name for name, kind in computation.context.line_kinds.items() if kind.deal_incentive]

    def paid_earlier(deal_id: str) -> bool:
        return any(deal_id in history.named_deal_ids(kind) for kind in on_deals)

    return [
        field_write(
            "deal",
            rid,
            _CLEARED if rid in cleared or (rid in paid and not paid_earlier(rid)) else _CLEARED_IF_PROJECTED,
            _UNKNOWN_DEAL,
        )
        for rid in sorted(unread)
    ]


_UNKNOWN_ACCOUNT, _UNKNOWN_DEAL = none_for(ACCOUNT_FIELDS), none_for(DEAL_FIELDS)
_CLEARED = _UNKNOWN_DEAL
"""A lost deal's values: every field cleared (one read-only mapping shared by all lost deals)."""
_CLEARED_IF_PROJECTED: FieldValues = MappingProxyType(dict.fromkeys(DEAL_FIELDS))
"""The values of a deal no partner projects or was paid for, or that is no longer read: every field
cleared where the target holds a projection (Projected or Withheld, written while a partner was on the
deal), left as they are otherwise (an Earned deal of before the ledger keeps what it says). Told apart
from ``_CLEARED`` by identity."""


def _projected_write(
    deal_id: str,
    currency: str,
    rate: Decimal,
    items: Sequence[Projection],
    names: Mapping[str, str],
    headings: Mapping[str, str],
) -> FieldWrite:
    """An open deal's write: the total of its projections, "Projected" (or "Withheld" when all are)
    "if won by <period end>: " and what each partner would earn."""
    status = WITHHELD if all(p.withheld for p in items) else PROJECTED
    parts = [
        f"{names.get(p.partner_id, p.partner_id)}: {_note_amount(p.amount, rate, currency)}"
        + (f" ({p.explanation})" if p.withheld else "")
        for p in items
    ]
    return _deal_write(
        deal_id, sum((p.amount for p in items), ZERO), rate, status, _fitted_note(headings[status], parts)
    )


def _no_nul(text: str | None) -> str | None:
    """Names, tier labels and explanations in the values come from CRM and CSV text, the program and the
    plugins: no NUL reaches a CRM or a file."""
    return text if text is None or "\x00" not in text else without_nul(text)


class _EarlierRates:
    """The rate each line on a won deal is shown at in the deal's currency: a line of this run at the
    program's ``fx`` (``today``, by currency), a line of an earlier period at the rate that period's run
    converted with, as the ledger recorded it. A period run before cosell recorded its rates, or whose
    rates lack the currency (the deal's currency changed since), is shown at today's rate."""

    __slots__ = ("_found", "_history", "_today")

    def __init__(self, history: History, today: Mapping[str, Decimal]) -> None:
        self._history = history
        self._today = today
        self._found: dict[tuple[str, str], Decimal | None] = {}

    def rates(self, items: Sequence[LedgerLine | PayoutLine], currency: str) -> list[Decimal] | None:
        """Each line's rate for a deal in ``currency``; None when all are today's (the common case)."""
        today = self._today[currency]
        rates = None
        for i, line in enumerate(items):
            if isinstance(line, PayoutLine):
                continue
            key = (line.period, currency)
            if key in self._found:
                found = self._found[key]
            else:
                table = self._history.fx_of(line.period)
                found = self._found[key] = None if table is None else table.get(currency)
            if found is not None and found != today:
                if rates is None:
                    rates = [today] * len(items)
                rates[i] = found
        return rates


class _AdjustedPeriods:
    """Which periods capped or scaled down each partner's total (a line of an adjustment kind: the
    per-partner cap, the program budget): this run's from its lines, an earlier period's from the
    history, asked once for every partner (one indexed question of the ledger, the first time a deal
    paid before this period needs it).

    A won deal's note marks a partner's amount with the periods that paid it whose partner total was
    capped or scaled: those of the partner's lines on the deal that pay (a line taking back an earlier
    payment pays nothing: its period is not the one the deal was paid in)."""

    __slots__ = ("_adjusted", "_current", "_history", "_kinds", "_now", "_now_mark", "_reversing")

    def __init__(
        self,
        history: History,
        kinds: Collection[str],
        current: str,
        now: Collection[str],
        reversing: frozenset[str],
    ) -> None:
        self._history = history
        self._kinds = frozenset(kinds)
        self._current = current
        self._now = frozenset(now)
        self._now_mark = _marked((current,))
        self._reversing = reversing
        self._adjusted: dict[str, frozenset[str]] = {}

    def mark(self, partner_id: str, items: Sequence[LedgerLine | PayoutLine]) -> str:
        """`` (partner total capped/scaled in 2026-Q3)`` for the partner's paying lines among ``items``
        whose period capped or scaled its total (periods in order); "" when none did."""
        paid_now = False
        earlier: set[str] | None = None  # the periods of the partner's paying lines of earlier periods
        for line in items:
            if line.partner_id != partner_id or line.kind in self._reversing:
                continue
            if isinstance(line, LedgerLine):
                if earlier is None:
                    earlier = set()
                earlier.add(line.period)
            else:
                paid_now = True
        if earlier is None:  # paid in this period only (most deals)
            return self._now_mark if paid_now and partner_id in self._now else ""
        adjusted = self._adjusted.get(partner_id)
        if adjusted is None:
            adjusted = self._adjusted[partner_id] = self._history.periods_of(partner_id, self._kinds)
        marked = sorted(earlier & adjusted)
        if paid_now and partner_id in self._now:
            marked.append(self._current)  # after every earlier period
        return _marked(marked) if marked else ""


def _marked(periods: Sequence[str]) -> str:
    return f" (partner total capped/scaled in {', '.join(periods)})"


def _won_deal_write(
    deal_id: str,
    currency: str,
    rate: Decimal,
    items: Sequence[LedgerLine | PayoutLine],
    names: Mapping[str, str],
    adjusted: _AdjustedPeriods,
    reversing: frozenset[str],
    line_rates: Sequence[Decimal] | None = None,
) -> FieldWrite:
    """A won deal's write: the net of its lines over its partners, in the deal's currency at ``rate``,
    or line by line at ``line_rates`` (the rates of the periods that paid them)."""
    if len(items) == 1 and line_rates is None:
        # paid by one line (most won deals; a period replans every deal won before it): the same text
        # as below, without the sums and calls that several lines or partners need
        line = items[0]
        reason = ""
        if line.kind in reversing:
            status = CLAWED_BACK
        elif line.withheld:
            status, reason = WITHHELD, " (" + line.explanation.split(": ", 1)[-1] + ")"
        else:
            status = EARNED
        pid = line.partner_id
        shown = round_cents((ZERO + line.amount) / rate)  # the partner's amount and the deal's total alike
        note = f"{status}{reason}: {names.get(pid, pid)}: {shown:,.2f} {currency}{adjusted.mark(pid, items)}"
        return _deal_fields(deal_id, shown, status, note)
    if any(line.kind in reversing for line in items):
        status = CLAWED_BACK
    elif all(line.withheld for line in items):
        status = WITHHELD
    else:
        status = EARNED
    reason = ""
    if status == WITHHELD:
        reason = " (" + items[-1].explanation.split(": ", 1)[-1] + ")"
    if line_rates is not None:
        return _won_at_period_rates(
            deal_id, currency, items, line_rates, names, adjusted, reversing, f"{status}{reason}: ", status
        )
    by_partner: dict[str, Decimal] = defaultdict(Decimal)
    for line in items:
        by_partner[line.partner_id] += line.amount
    parts = []
    for pid, amount in by_partner.items():
        parts.append(
            f"{names.get(pid, pid)}: {_note_amount(amount, rate, currency)}{adjusted.mark(pid, items)}"
        )
    total = sum((line.amount for line in items), ZERO)
    return _deal_write(deal_id, total, rate, status, _fitted_note(f"{status}{reason}: ", parts))


def _won_at_period_rates(
    deal_id: str,
    currency: str,
    items: Sequence[LedgerLine | PayoutLine],
    line_rates: Sequence[Decimal],
    names: Mapping[str, str],
    adjusted: _AdjustedPeriods,
    reversing: frozenset[str],
    heading: str,
    status: str,
) -> FieldWrite:
    """``_won_deal_write`` for lines paid at several rates: each partner's lines are summed by rate in
    the program currency, each sum converted at its rate, and the amounts rounded once. A line taking
    back an earlier payment (a clawback) is shown at the rates of what it takes back, so a deal whose
    commission is taken back in full shows 0.00 whatever the rates did in between."""
    by_partner: dict[str, dict[Decimal, Decimal]] = {}
    for line, rate in zip(items, line_rates, strict=True):
        sums = by_partner.setdefault(line.partner_id, {})
        if line.kind in reversing and sums and (len(sums) > 1 or rate not in sums):
            outstanding = sum(sums.values(), ZERO)
            if outstanding != 0:
                if line.amount == -outstanding:  # taken back in full: exactly, whatever the rates
                    for paid_at in sums:
                        sums[paid_at] = ZERO
                else:  # in part: from each rate's sum in proportion
                    for paid_at, paid in list(sums.items()):
                        sums[paid_at] = paid + line.amount * paid / outstanding
                continue
        sums[rate] = sums.get(rate, ZERO) + line.amount
    parts, shown = [], []
    for pid, sums in by_partner.items():
        converted = [paid / paid_at for paid_at, paid in sums.items()]
        shown.extend(converted)
        amount = round_cents(exact_sum(converted)) + ZERO
        parts.append(f"{names.get(pid, pid)}: {amount:,.2f} {currency}{adjusted.mark(pid, items)}")
    return _deal_fields(deal_id, round_cents(exact_sum(shown)), status, _fitted_note(heading, parts))


def tier_shown(partner: Partner, decision: TierDecision, period_end: date) -> str:
    """What the account's tier field says: the tier, "Exited (was Silver)" once the partner has left, or
    "Gold (exception until 2027-Q2: <reason>)" for a tier held by exception, its reason shortened to fit
    the field (``TIER_LIMIT`` characters). A tier name too long for the field with what goes around it
    is shortened too, ending in "…" (a CRM refuses the whole account's write over one long value)."""
    if partner.left_by(period_end):
        return exited_label(decision.assigned, TIER_LIMIT)
    return tier_label(decision.assigned, decision.exception, TIER_LIMIT)


def benefits_shown(partner: Partner, tier: Tier | None, period_end: date) -> str | None:
    """What the account's benefits field says: the tier's ``benefits``, one a line; nothing (the field
    cleared) for a tier without any, and once the partner has left."""
    if tier is None or not tier.benefits or partner.left_by(period_end):
        return None
    return "\n".join(tier.benefits)


def in_record_currency(amount: Decimal, rate: Decimal) -> Decimal:
    """An amount in the program currency shown in a record's own currency, rounded half-up to cents."""
    return round_cents(amount / rate)


def _note_amount(amount: Decimal, rate: Decimal, currency: str) -> str:
    return f"{in_record_currency(amount, rate):,.2f} {currency}"


def _deal_write(deal_id: str, total: Decimal, rate: Decimal, status: str, note: str) -> FieldWrite:
    return _deal_fields(deal_id, in_record_currency(total, rate), status, note)


def _fitted_note(heading: str, parts: Sequence[str]) -> str:
    """``heading`` then the partners' ``parts`` joined by "; ", in at most ``NOTE_LIMIT`` characters: the
    parts that fit, each whole, then "; and 3 more partners". A note whose first part does not fit even
    alone is cut at a word (``_cut_at_word``)."""
    note = heading + "; ".join(parts)
    if len(note) <= NOTE_LIMIT:
        return note
    for keep in range(len(parts) - 1, 0, -1):
        left = len(parts) - keep
        note = f"{heading}{'; '.join(parts[:keep])}; and {left} more partner{'s' if left > 1 else ''}"
        if len(note) <= NOTE_LIMIT:
            return note
    return _cut_at_word(heading + "; ".join(parts))


def _cut_at_word(note: str) -> str:
    """``note`` in at most ``NOTE_LIMIT`` characters, ending in "…" when cut: cut before a word, never
    inside one, so an amount ("1,234.00") is shown whole or not at all."""
    if len(note) <= NOTE_LIMIT:
        return note
    head = note[: NOTE_LIMIT - 1]
    if note[NOTE_LIMIT - 1] != " " and " " in head:
        head = head[: head.rindex(" ")]
    return head.rstrip(" ;:,(") + "…"


def _deal_fields(deal_id: str, shown: Decimal, status: str, note: str) -> FieldWrite:
    """A deal's write: ``shown`` (in the deal's currency, rounded to cents), its status, and the note
    (``_fitted_note``: at most ``NOTE_LIMIT`` characters)."""
    note = _cut_at_word(note)
    return field_write(
        "deal",
        deal_id,
        {"incentive": f"{shown + ZERO:.2f}", "incentive_status": status, "incentive_note": _no_nul(note)},
        _UNKNOWN_DEAL,
    )


def same_value(a: str | None, b: str | None) -> bool:
    """Field values compare as numbers when both are numbers (a CRM may answer 7200.0 for 7200.00)."""
    a = a if a not in ("", None) else None
    b = b if b not in ("", None) else None
    if a is None or b is None:
        return a is b
    if a == b:
        return True
    if " " in a.strip() or " " in b.strip():
        # no number has a space inside: a note or a label differs without the Decimal that fails on it
        # (a raised InvalidOperation costs 1 µs, a run compares 150,000 changed notes a period)
        return False
    try:
        return Decimal(a) == Decimal(b)
    except (InvalidOperation, ValueError):
        return False


def changed_writes(
    desired: Iterable[FieldWrite], current: Mapping[RecordKey, FieldValues]
) -> list[FieldWrite]:
    """Only the fields whose value differs from the target's, with the old values kept for the report.
    ``desired`` may be made as it is read (:func:`each_planned_write`): a write is kept only if it
    changes something."""
    changes = []
    held = current.get if current else None  # a first run: the target holds none of the records
    for write in desired:
        values = write.values
        diff: FieldValues
        old: FieldValues
        if not values:
            continue  # nothing to write
        now = held((write.object, write.record_id)) if held is not None else None
        if values is _CLEARED_IF_PROJECTED and (not now or now.get("incentive_status") not in _PROJECTIONS):
            continue  # nothing projected to take back
        if not now:
            # A record the target does not hold yet has no old values: its writes share one read-only
            # mapping of None per set of fields (a first run of a million deals would otherwise keep a
            # million of them). same_value(v, None) holds only for an empty value: the others change.
            for value in values.values():
                if value is None or value == "":
                    break
            else:  # every value changes: a planned write (old values None already) is the change
                old = none_for(tuple(values))
                changes.append(
                    write
                    if write.old is old
                    else field_write(write.object, write.record_id, dict(values), old)
                )
                continue
            diff = {f: v for f, v in values.items() if v is not None and v != ""}
            if not diff:
                continue
            old = none_for(tuple(diff))
        elif values == now:
            continue  # the target holds these very values (a rerun): no field to compare one by one
        else:
            diff = {f: v for f, v in values.items() if v != now.get(f) and not same_value(v, now.get(f))}
            if not diff:
                continue
            # A change of every field keeps the planned mapping, and the target's mapping when it holds
            # just these fields (in this order), rather than copies: a period changes 100,000 notes.
            if len(diff) == len(values):
                diff = values
            old = now if len(diff) == len(now) and list(diff) == list(now) else {f: now.get(f) for f in diff}
        changes.append(field_write(write.object, write.record_id, diff, old))
    return changes
