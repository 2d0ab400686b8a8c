"""Commission: each deal won in the period pays amount × share × role multiplier × the tier's rate.

The discount and margin guardrails belong here, so later rules (the accelerator) see guarded
commission. Open deals get the same arithmetic as a projection, written back and never paid.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache

from cosell import hookimpl
from cosell.context import PartnerDeal, PartnerFacts, RunContext
from cosell.money import round_cents, show, show_number, show_percent
from cosell.periods import Period, days_after
from cosell.program import Guardrails, Program
from cosell.records import ROLES, Deal, Role
from cosell.report import GuardedDeal, ReportFacts
from cosell.results import LedgerLine, LineKind, PartnerStanding, PayoutLine, Projection
from cosell.settlement import OWED, PAID, PROJECTED, PeriodAdjustments, SettlementItem, SettlementPart

KIND = "commission"
MARGIN_FLOOR = "margin_floor"
LATE = "late"
ZERO = Decimal(0)


@hookimpl(tryfirst=True)
def cosell_line_kinds() -> Iterable[LineKind]:
    return (LineKind(KIND, "Commission", deal_incentive=True),)


@dataclass(frozen=True, slots=True)
class RateCard:
    """What one partner's commission is computed with this period: its tier's rate and the multipliers."""

    partner_id: str
    tier: str
    rate: Decimal
    multipliers: dict[Role, Decimal]
    guard: Guardrails | None
    currency: str
    last_commission_day: date | None
    """The end of an exiting partner's wind-down; None when commission has no end."""
    exit_text: str
    factors: dict[Role, Decimal]
    """Role multiplier × tier rate, by role: one multiplication per deal instead of two."""
    role_terms: dict[Role, str]
    """`` × sourced 1 × Gold rate 12%``, by role: built once per partner, not once per deal."""

    @classmethod
    def of(cls, partner: PartnerFacts, standing: PartnerStanding, program: Program) -> RateCard:
        tier = program.tier(standing.tier.assigned) or program.tiers[0]
        payouts = program.payouts
        multipliers = {role: payouts.role_multiplier(role) if payouts else Decimal(1) for role in ROLES}
        p, days = partner.partner, program.wind_down_days
        last = None
        exit_text = ""
        if p.status != "active" and p.exit_on is not None and days is not None:
            last = days_after(p.exit_on, days)
            exit_text = (
                f"won after the wind-down ({days} days after the partner's exit on {p.exit_on}, until {last})"
            )
        return cls(
            partner.id,
            tier.name,
            tier.commission_rate,
            multipliers,
            program.guardrails,
            program.currency,
            last,
            exit_text,
            {role: multipliers[role] * tier.commission_rate for role in ROLES},
            {
                role: f" × {role} {_number(multipliers[role])} × {tier.name} rate {_percent(tier.commission_rate)}"
                + (" (tier held by exception)" if standing.tier.exception is not None else "")
                for role in ROLES
            },
        )


@hookimpl(tryfirst=True)
def cosell_payout_lines(
    partner: PartnerFacts, standing: PartnerStanding, context: RunContext
) -> Iterable[PayoutLine]:
    period = context.period
    card = RateCard.of(partner, standing, context.program)
    paid_before = context.history.paid_deal_ids(partner.id, KIND)  # asked once: deals won again are rare
    # One walk of the partner's deals picks the deals to pay: won in the period, or won inside a closed
    # period and never paid (late); the questions below look at those alone.
    due: list[tuple[PartnerDeal, bool]] = []
    for involvement in partner.deals:
        deal = involvement.deal
        if deal.status != "won" or deal.closed_on is None:
            continue
        if period.start <= deal.closed_on <= period.end:
            due.append((involvement, False))
        elif _unpaid_of_closed_period(partner, deal, deal.closed_on, paid_before, context):
            due.append((involvement, True))
    unpaid_late = {involvement.deal.id for involvement, late in due if late}
    late_paid_to = _paid_to_others(partner.id, unpaid_late, context) if unpaid_late else {}
    won_paid_to = _kept_by_others(
        partner.id, [involvement for involvement, late in due if not late], paid_before, context
    )
    lines = []
    for involvement, late in due:
        deal = involvement.deal
        assert deal.closed_on is not None
        if not late:
            paid = _paid_before(partner.id, deal.id, context) if deal.id in paid_before else []
            if paid:  # re-opened and won again: a deal's commission is paid once
                text = (
                    f"{deal.name} ({deal.id}) won {deal.closed_on.isoformat()}: 0.00, its commission was paid in "
                    f"{', '.join(paid)} (a deal won again after it was re-opened is paid once)"
                )
                lines.append(PayoutLine(partner.id, KIND, ZERO, text, deal.id))
                continue
            paid_to = won_paid_to.get(deal.id)
            if paid_to:  # re-opened, now held by another partner, and won again
                lines.append(_paid_to_another_line(partner.id, deal, deal.closed_on, paid_to))
                continue
            lines.append(commission_line(card, involvement, context, deal.closed_on))
        else:
            paid_to = late_paid_to.get(deal.id)
            if paid_to:  # paid to the partner that held it then: a deal's commission is paid once
                lines.append(_paid_to_another_line(partner.id, deal, deal.closed_on, paid_to))
                continue
            lines.append(commission_line(card, involvement, context, deal.closed_on, late=True))
    return lines


@hookimpl(tryfirst=True)
def cosell_projections(
    partner: PartnerFacts, standing: PartnerStanding, context: RunContext
) -> Iterable[Projection]:
    """Open deals that exist by the period's end, priced as if won on its last day."""
    card = RateCard.of(partner, standing, context.program)
    end = context.period.end
    paid_before = context.history.paid_deal_ids(partner.id, KIND)
    # One walk of the partner's deals picks the open ones; the questions below look at those alone.
    open_deals = [pd for pd in partner.deals if pd.deal.status == "open" and pd.deal.created_on <= end]
    paid_to = _kept_by_others(partner.id, open_deals, paid_before, context)
    out = []
    for involvement in open_deals:
        deal = involvement.deal
        paid = _paid_before(partner.id, deal.id, context) if deal.id in paid_before else []
        if paid:  # re-opened after its commission was paid: winning it again pays nothing
            text = f"its commission was paid in {', '.join(paid)}; winning it again pays nothing"
            out.append(Projection(partner.id, deal.id, ZERO, text, withheld=True))
            continue
        if deal.id in paid_to:  # re-opened after another partner was paid, who keeps it
            text = (
                f"its commission was paid in {paid_to[deal.id]} to another partner; winning it again pays "
                "nothing (a deal's commission is paid once, whoever holds the deal now)"
            )
            out.append(Projection(partner.id, deal.id, ZERO, text, withheld=True))
            continue
        amount, terms, withheld, _ = commission_terms(card, involvement, end, context, projected=True)
        out.append(Projection(partner.id, deal.id, round_cents(amount), terms, withheld))
    return out


@hookimpl(tryfirst=True)
def cosell_settlement(
    partner: PartnerFacts, standing: PartnerStanding, lines: Sequence[PayoutLine], context: RunContext
) -> SettlementPart:
    """Commission in the wind-down: deals won from the exit on, as paid so far; open deals, projected at
    this period's tier as if won the day after the period ends, while the wind-down is still open."""
    card = RateCard.of(partner, standing, context.program)
    exit_on, last, end = partner.partner.exit_on, card.last_commission_day, context.period.end
    by_period = _lines_by_period(partner.id, lines, context)
    paid: dict[str, list[tuple[str, Decimal, Decimal]]] = {}
    adjusted: dict[str, PeriodAdjustments] = {}
    for period, period_lines in by_period.items():
        for line in period_lines:
            if line.kind == KIND and line.deal_id is not None:
                if period not in adjusted:
                    adjusted[period] = PeriodAdjustments.of(period_lines, context.line_kinds)
                share = adjusted[period].paid(line, context.line_kinds)
                paid.setdefault(line.deal_id, []).append((period, line.amount, share))
    items = []
    for involvement in partner.deals:
        deal = involvement.deal
        if deal.status == "won" and deal.closed_on is not None and exit_on is not None:
            if deal.closed_on < exit_on or (last is not None and deal.closed_on > last):
                continue
            if deal.closed_on > end:  # won after the period's end (the records are newer): paid then
                amount, terms, withheld, _ = commission_terms(card, involvement, deal.closed_on, context)
                due = Period.containing(deal.closed_on, context.period.kind).key
                text = (
                    f"{deal.name} ({deal.id}) won {deal.closed_on}, inside the wind-down: paid in {due}"
                    + (
                        f", {terms}"
                        if withheld
                        else f" ({terms}; at the {card.tier} rate held in {context.period.key})"
                    )
                )
                items.append(SettlementItem(OWED, round_cents(amount), text, deal.id, due))
                continue
            mine = paid.get(deal.id, ())
            amount = sum((share for _, _, share in mine), ZERO)
            periods = sorted({p for p, _, _ in mine})
            where = f"paid in {', '.join(periods)}" if periods else "no commission paid"
            text = f"{deal.name} ({deal.id}) won {deal.closed_on}, inside the wind-down: {where}"
            commission = sum((a for _, a, _ in mine), ZERO)
            if amount != commission:  # the partner's total was capped or scaled: the deal's part of it
                why = "; ".join(
                    f"in {p} the partner's total was {adjusted[p].text()}"
                    for p in periods
                    if adjusted[p].text()
                )
                text += f", {show(amount)} of its commission of {show(commission)} ({why})"
            items.append(SettlementItem(PAID, amount, text, deal.id, periods[-1] if periods else None))
        elif deal.status == "open" and deal.created_on <= end and (last is None or end < last):
            won_on = end + timedelta(days=1)
            amount, terms, withheld, _ = commission_terms(card, involvement, won_on, context, projected=True)
            if withheld:
                continue
            by = f"if won by {last}" if last is not None else "if won"
            text = (
                f"{deal.name} ({deal.id}), open: {show(round_cents(amount))} {by} "
                f"({card.currency} {show(deal.amount)} × {terms}; at the {card.tier} rate held in "
                f"{context.period.key}, before any accelerator, cap or budget)"
            )
            items.append(SettlementItem(PROJECTED, round_cents(amount), text, deal.id, until=last))
    if last is None:
        days = context.program.wind_down_days
        note = (
            "the program sets no wind-down: commission on deals won has no end"
            if days is None
            else "no exit date is recorded: commission on deals won has no end"
        )
        return SettlementPart("Commission in the wind-down", tuple(items), note, open_ended=True)
    note = f"commission on deals won up to {last}, {context.program.wind_down_days} days after the exit on {exit_on}"
    if end >= last:
        note += "; the wind-down is over: open deals earn nothing more"
    return SettlementPart("Commission in the wind-down", tuple(items), note, earns_until=last)


def _lines_by_period(
    partner_id: str, lines: Sequence[PayoutLine], context: RunContext
) -> dict[str, list[LedgerLine | PayoutLine]]:
    """The partner's commission lines by period, with every line the cap and the budget counted in the
    periods that had one of them (a commission line is paid its share of what they did to the total). An
    earlier period's other lines are read only then: most periods of most partners have neither."""
    kinds = context.line_kinds
    history = context.history
    by_period: dict[str, list[LedgerLine | PayoutLine]] = {}
    for earlier in history.lines_of(partner_id, kinds=(KIND,)):
        by_period.setdefault(earlier.period, []).append(earlier)
    steps = {name for name, kind in kinds.items() if kind.adjustment}
    adjusted = {ln.period for ln in history.lines_of(partner_id, kinds=steps)} & by_period.keys()
    if adjusted:
        counted = {name for name, kind in kinds.items() if kind.capped or kind.in_budget} | steps
        for period in adjusted:
            by_period[period] = []
        for earlier in history.lines_of(partner_id, kinds=counted):
            if earlier.period in adjusted:
                by_period[earlier.period].append(earlier)
    by_period[context.period.key] = list(lines)
    return by_period


def commission_line(
    card: RateCard, involvement: PartnerDeal, context: RunContext, won_on: date, *, late: bool = False
) -> PayoutLine:
    """One won deal's commission line for one partner, its arithmetic explained."""
    deal = involvement.deal
    what = f"{deal.name} ({deal.id}) won {won_on.isoformat()}"
    if late:
        what += f", a deal of closed period {Period.containing(won_on, context.period.kind)} not paid before"
    amount, terms, withheld, tags = commission_terms(card, involvement, won_on, context)
    if late:
        tags |= {LATE}
    if not withheld:
        rate = context.program.fx_rate(deal.currency)
        price = f"{card.currency} {show(deal.amount)}"
        if rate is not None and rate != 1:
            price = f"{deal.currency} {show(deal.amount / rate)} at {_number(rate)} = {price}"
        terms = f"{price} × {terms} = {show(amount)}"
    return PayoutLine(
        card.partner_id, KIND, round_cents(amount), f"{what}: {terms}", deal.id, withheld, False, tags
    )


def commission_terms(
    card: RateCard, involvement: PartnerDeal, won_on: date, context: RunContext, *, projected: bool = False
) -> tuple[Decimal, str, bool, frozenset[str]]:
    """(amount before rounding, the terms or the reason withheld, withheld?, tags) for one deal and partner,
    with the discount guardrail, the wind-down and the margin floor applied."""
    deal = involvement.deal
    guard = card.guard
    limit = guard.max_discount_pct if guard else None
    if limit is not None and deal.discount_pct is not None and deal.discount_pct > limit:
        reason = f"withheld, discount {_number(deal.discount_pct)}% is above the {_number(limit)}% limit"
        return ZERO, reason, True, frozenset()
    if card.last_commission_day is not None and won_on > card.last_commission_day:
        return ZERO, f"withheld, {card.exit_text}", True, frozenset()
    if not projected and _refunded_before_paid(deal.refunded_on, won_on, context):
        when = (
            "in the period it was won"
            if deal.refunded_on in Period.containing(won_on, context.period.kind)
            else "before this commission was paid"
        )
        return ZERO, f"0.00, refunded {deal.refunded_on} {when}", True, frozenset()
    amount = deal.amount * involvement.share * card.factors[involvement.role]
    terms = f"share {_number(involvement.share)}{card.role_terms[involvement.role]}"
    floor = guard.min_margin_pct if guard else None
    if guard and floor is not None and deal.margin_pct is not None and deal.margin_pct < floor:
        factor = guard.margin_floor_factor
        assert factor is not None, "the program requires margin_floor_factor with min_margin_pct"
        amount *= factor
        terms += (
            f" × margin floor {_number(factor)} (margin {_number(deal.margin_pct)}% is below "
            f"{_number(floor)}%; no accelerator)"
        )
        return amount, terms, False, frozenset({MARGIN_FLOOR})
    return amount, terms, False, frozenset()


@lru_cache(maxsize=4096)
def _number(value: Decimal) -> str:
    return show_number(value)


@lru_cache(maxsize=256)
def _percent(value: Decimal) -> str:
    return show_percent(value)


def _unpaid_of_closed_period(
    partner: PartnerFacts, deal: Deal, won_on: date, paid: Collection[str], context: RunContext
) -> bool:
    """True for a deal won inside a closed period that the ledger never paid this partner (``paid``: the
    deals its commission lines name): paid once, now."""
    return (
        deal.id not in paid
        and context.closed_period_holding(won_on) is not None
        and context.in_program_on(partner.partner, won_on)  # not won before it joined
    )


def _kept_by_others(
    partner_id: str, deals: Iterable[PartnerDeal], paid_before: Collection[str], context: RunContext
) -> dict[str, str]:
    """Of the partner's ``deals``, those the ledger never paid it whose commission an earlier period paid
    another partner, who keeps it (a deal re-opened and moved to this partner, or shared with it), each
    with the periods that paid it. A set of every deal paid before picks the few to ask the history
    about: a deal paid twice is rare."""
    named = context.history.named_deal_ids(KIND)
    if not named:
        return {}
    asked = {pd.deal.id for pd in deals if pd.deal.id in named and pd.deal.id not in paid_before}
    return _paid_to_others(partner_id, asked, context) if asked else {}


def _paid_to_another_line(partner_id: str, deal: Deal, won_on: date, paid_to: str) -> PayoutLine:
    """A line of 0.00 on a deal whose commission the periods ``paid_to`` paid another partner, never
    named: a statement is the partner's."""
    text = (
        f"{deal.name} ({deal.id}) won {won_on.isoformat()}: 0.00, its commission was paid in {paid_to} to another partner "
        "(a deal's commission is paid once, whoever holds the deal now)"
    )
    return PayoutLine(partner_id, KIND, ZERO, text, deal.id)


def _paid_to_others(partner_id: str, deal_ids: Collection[str], context: RunContext) -> dict[str, str]:
    """Of ``deal_ids`` (deals the ledger never paid the partner), those whose
    commission an earlier period paid another partner, who keeps it (net of any line reversing it, a
    clawback), each with the periods that paid it: ``2026-Q3``."""
    reversing = [name for name, kind in context.line_kinds.items() if kind.reverses and kind.deal_incentive]
    found = context.history.lines_naming(deal_ids, (KIND, *reversing))
    if not found:
        return {}
    kept: dict[str, list[tuple[str, str]]] = {}
    for deal_id, earlier in found.items():
        net: dict[str, Decimal] = {}
        for ln in earlier:
            if ln.partner_id != partner_id:
                net[ln.partner_id] = net.get(ln.partner_id, ZERO) + ln.amount
        paid = [
            (ln.period, ln.partner_id)
            for ln in earlier
            if ln.kind == KIND and ln.amount != 0 and net.get(ln.partner_id, ZERO) != 0
        ]
        if paid:
            kept[deal_id] = paid
    # A statement is the partner's: it says when the commission went to another partner, never to whom.
    return {deal_id: ", ".join(dict.fromkeys(period for period, _ in paid)) for deal_id, paid in kept.items()}


def _paid_before(partner_id: str, deal_id: str, context: RunContext) -> list[str]:
    """The earlier periods whose commission on the deal the partner keeps (net of any line reversing
    it, a clawback): none when nothing was paid or all was taken back."""
    history = context.history
    reversing = [name for name, kind in context.line_kinds.items() if kind.reverses and kind.deal_incentive]
    earlier = history.lines_of(partner_id, kinds=(KIND, *reversing), deal_ids=(deal_id,))
    if sum((ln.amount for ln in earlier), ZERO) == 0:
        return []
    return sorted({ln.period for ln in earlier if ln.kind == KIND and ln.amount != 0})


def _refunded_before_paid(refunded_on: date | None, won_on: date, context: RunContext) -> bool:
    """Refunded inside the clawback window by the end of the period that pays the commission: for a deal
    won in that period, refunded in the period it was won; for a deal of a closed period paid late, a
    refund known when it is paid (no later clawback would take that commission back)."""
    window = context.program.clawback_window_days
    if refunded_on is None or window is None:
        return False
    return refunded_on <= context.period.end and refunded_on <= days_after(won_on, window)


@hookimpl(tryfirst=True)
def cosell_report_facts(
    partner: PartnerFacts, lines: Sequence[PayoutLine], context: RunContext
) -> ReportFacts | None:
    """The period's commission lines the guardrails withheld (discount above the limit) or cut (margin
    below the floor), with the deal's discount and margin."""
    guard = context.program.guardrails
    if guard is None:
        return None
    limit = guard.max_discount_pct
    # Only a commission line the floor cut or that was withheld can be guarded: a partner with none
    # needs no index of its deals.
    candidates = [ln for ln in lines if ln.kind == KIND and (ln.withheld or MARGIN_FLOOR in ln.tags)]
    if not candidates:
        return ReportFacts(guarded=())
    # For each of those lines' deals, the partner's last involvement in it (what an index of all its
    # deals would hold), read from the end and no further than the last one needed.
    wanted = {ln.deal_id or "" for ln in candidates}
    deals: dict[str, PartnerDeal] = {}
    for pd in reversed(partner.deals):
        deal_id = pd.deal.id
        if deal_id in wanted and deal_id not in deals:
            deals[deal_id] = pd
            if len(deals) == len(wanted):
                break
    guarded = []
    for line in candidates:
        involvement = deals.get(line.deal_id or "")
        if line.kind != KIND or involvement is None:
            continue
        deal = involvement.deal
        if MARGIN_FLOOR in line.tags:
            action = "floored"
        elif (
            line.withheld
            and limit is not None
            and deal.discount_pct is not None
            and deal.discount_pct > limit
        ):
            action = "withheld"
        else:
            continue
        guarded.append(
            GuardedDeal(
                deal.id,
                deal.name,
                deal.amount * involvement.share,
                deal.discount_pct,
                deal.margin_pct,
                action,
            )
        )
    return ReportFacts(guarded=tuple(guarded))
