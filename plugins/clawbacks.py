"""Clawbacks: a deal refunded within ``clawback_window_days`` of ``closed_on``, whose commission was paid
in an earlier period, takes that commission back (not its accelerator, cap or budget share).

Once per deal and partner, in the period that holds ``refunded_on`` or, when that period was closed or
already run before the refund was known, in the period being run: every commission an earlier period
paid on the deal is taken back, the refund's own period's included. A deal refunded by the end of the
period that pays its commission is the commission rule's business: it earns 0 there. Outside caps.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal

from cosell import hookimpl
from cosell.context import PartnerFacts, RunContext
from cosell.money import show
from cosell.periods import Period, days_after
from cosell.records import Deal
from cosell.results import LedgerLine, LineKind, PayoutLine
from cosell.settlement import AT_RISK, SettlementItem, SettlementPart

from .commission import KIND as COMMISSION

KIND = "clawback"


@hookimpl(tryfirst=True)
def cosell_line_kinds() -> Iterable[LineKind]:
    return (LineKind(KIND, "Clawbacks", capped=False, in_budget=False, deal_incentive=True, reverses=True),)


@hookimpl(tryfirst=True)
def cosell_payout_lines(partner: PartnerFacts, context: RunContext) -> Iterable[PayoutLine]:
    window = context.program.clawback_window_days
    if window is None:
        return ()
    period = context.period
    history = context.history
    lines = []
    for deal, held in _paid_deals(partner, context):
        refunded = deal.refunded_on
        if refunded is None or deal.closed_on is None or deal.status != "won" or refunded > period.end:
            continue
        if refunded > days_after(deal.closed_on, window):
            continue
        refund_period = Period.containing(refunded, period.kind)
        # Every commission the history holds for the deal: the periods before this one, the refund's own
        # included when it was run (or closed) before the refund was known, since it can no longer change.
        paid = list(history.lines_of(partner.id, kinds=(COMMISSION,), deal_ids=(deal.id,)))
        already = deal.id in history.paid_deal_ids(partner.id, KIND)
        total = sum((ln.amount for ln in paid), Decimal(0))
        if already or total == 0:
            continue
        where = ", ".join(sorted({ln.period for ln in paid}))
        text = (
            f"clawback: {deal.name} ({deal.id}) was refunded on {refunded}, {(refunded - deal.closed_on).days} days "
            f"after it was won on {deal.closed_on} (window {window} days): the commission of {show(total)} paid in "
            f"{where} is taken back"
        )
        if not held:
            text += ", though the deal no longer names the partner"
        if refund_period != period:
            text += f" (refund in {refund_period}, entered after that period was run)"
        lines.append(PayoutLine(partner.id, KIND, -total, text, deal.id, uncapped=True))
    return lines


def _paid_deals(partner: PartnerFacts, context: RunContext) -> Iterator[tuple[Deal, bool]]:
    """The deals a refund may take a commission of the partner's back from, each with whether the deal
    names the partner now: those it is on (in the records' order), then those it was paid a commission on
    and has been taken off since (by id). A deal whose earlier payment to the partner counts as another
    partner's now (a merge moved it, undone since) is that partner's to give back."""
    held = set()
    for involvement in partner.deals:
        held.add(involvement.deal.id)
        yield involvement.deal, True
    history = context.history
    gone = history.paid_deal_ids(partner.id, COMMISSION) - held
    if gone:
        gone -= history.handed_on_deal_ids(partner.id)
    for deal_id in sorted(gone):
        deal = context.deal(deal_id)
        if deal is not None:  # a deal the records no longer hold: nothing says it was refunded
            yield deal, False


@hookimpl(tryfirst=True)
def cosell_settlement(
    partner: PartnerFacts, lines: Sequence[PayoutLine], context: RunContext
) -> SettlementPart | None:
    """Clawback exposure: each deal whose commission is paid and whose refund window is still open after
    the period's end, with the commission a refund would take back (the partner taken off it since, too)."""
    window = context.program.clawback_window_days
    if window is None:
        return None
    end = context.period.end
    exposed = []
    for deal, _ in _paid_deals(partner, context):
        if deal.status != "won" or deal.closed_on is None:
            continue
        closes = days_after(deal.closed_on, window)
        if closes <= end or (deal.refunded_on is not None and deal.refunded_on <= end):
            continue
        exposed.append((deal, closes))
    if not exposed:
        return SettlementPart("Clawback exposure", (), _exposure_note(window))
    # asked for these deals: what was paid on them, to this partner or to one a merge took them from
    every: list[LedgerLine | PayoutLine] = [
        *context.history.lines_of(partner.id, kinds=(KIND, COMMISSION), deal_ids=[d.id for d, _ in exposed]),
        *lines,
    ]
    items = []
    for deal, closes in exposed:
        if any(ln.kind == KIND and ln.deal_id == deal.id for ln in every):
            continue
        paid = sum((ln.amount for ln in every if ln.kind == COMMISSION and ln.deal_id == deal.id), Decimal(0))
        if paid <= 0:
            continue
        text = (
            f"{deal.name} ({deal.id}) won {deal.closed_on}: a refund up to {closes} ({window} days) takes back "
            f"its commission of {show(paid)}"
        )
        items.append(SettlementItem(AT_RISK, -paid, text, deal.id, until=closes))
    return SettlementPart("Clawback exposure", tuple(items), _exposure_note(window))


def _exposure_note(window: int) -> str:
    return f"a deal refunded within {window} days of its win gives back its commission"
