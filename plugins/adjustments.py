"""Approved adjustments: each adjustment the governance body approved (``cosell adjust``) becomes one
``adjustment`` line of its partner, outside the per-partner cap and the program budget (the body
decided the amount), counted in the partner's period earnings. The ledger hands a run the adjustments
it pays (``context.history.adjustments``) and marks them applied when it stores their lines."""

from __future__ import annotations

from collections.abc import Iterable

from cosell import hookimpl
from cosell.context import PartnerFacts, RunContext
from cosell.money import show
from cosell.results import ApprovedAdjustment, LineKind, PayoutLine, adjustment_tag

KIND = "adjustment"


@hookimpl(tryfirst=True)
def cosell_line_kinds() -> Iterable[LineKind]:
    # Not an ``adjustment`` kind in LineKind's sense: statements keep that for the cap and the budget,
    # which scale other lines. This line is an amount of its own, outside both (uncapped, not in budget).
    return (
        LineKind(
            KIND,
            "Approved adjustment",
            capped=False,
            in_budget=False,
            description="an amount the governance body proposed and approved (cosell adjust)",
        ),
    )


@hookimpl(tryfirst=True)
def cosell_payout_lines(partner: PartnerFacts, context: RunContext) -> Iterable[PayoutLine]:
    # A partner not among the run's records is never called: its adjustment stays approved until a run
    # has it.
    due = [a for a in context.history.adjustments if a.partner_id == partner.id]
    if not due:
        return ()
    deal_ids = {d.deal.id for d in partner.deals}
    return tuple(
        PayoutLine(
            partner.id,
            KIND,
            adjustment.amount,
            _explanation(adjustment, context),
            deal_id=adjustment.deal_id if adjustment.deal_id in deal_ids else None,
            tags=frozenset({adjustment_tag(adjustment.id)}),
        )
        for adjustment in due
    )


def _explanation(adjustment: ApprovedAdjustment, context: RunContext) -> str:
    reason = " ".join(adjustment.reason.split())
    approved = (
        f"approved by {adjustment.approved_by}"
        if adjustment.approved_by is not None
        else "approved by the program's threshold"
    )
    text = f"adjustment {adjustment.id}: {reason}; proposed by {adjustment.proposed_by}, {approved}, {show(adjustment.amount)}"
    if adjustment.deal_id is not None:
        text += f"; deal {adjustment.deal_id}"
    here = context.period.key
    if adjustment.period is not None and adjustment.period != here:
        why = "closed" if adjustment.period in context.history.closed_periods else "no longer run"
        text += f"; for {adjustment.period}, which is {why}: paid in {here}"
    return text
