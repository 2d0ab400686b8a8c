"""Approved adjustments: each adjustment the governance body approved (``cosell adjust``) becomes one
``adjustment`` line of its partner, outside the per-partner cap and the program budget (the body
decided the amount), counted in the partner's period earnings. The ledger hands a run the adjustments
it pays (``context.history.adjustments``) and marks them applied when it stores their lines."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cosell import hookimpl
from cosell.context import RunContext
from cosell.money import show
from cosell.results import ApprovedAdjustment, LineKind, PayoutLine, adjustment_tag

KIND = "adjustment"


@hookimpl(tryfirst=True)
def cosell_line_kinds() -> Iterable[LineKind]:
    return (
        LineKind(
            KIND,
            "Approved adjustment",
            capped=False,
            in_budget=False,
            adjustment=True,
            description="an amount the governance body proposed and approved (cosell adjust)",
        ),
    )


@hookimpl(tryfirst=True)
def cosell_adjustments(
    lines: Mapping[str, tuple[PayoutLine, ...]], context: RunContext
) -> Iterable[PayoutLine]:
    due = context.history.adjustments
    if not due:
        return ()
    deal_ids = {deal.id for deal in context.records.deals}
    out = []
    # A partner not in this run's records gets no line: its adjustment stays approved until a run has it.
    for adjustment in due:
        if adjustment.partner_id in lines:
            deal = adjustment.deal_id if adjustment.deal_id in deal_ids else None
            out.append(
                PayoutLine(
                    adjustment.partner_id,
                    KIND,
                    adjustment.amount,
                    _explanation(adjustment, context),
                    deal_id=deal,
                    tags=frozenset({adjustment_tag(adjustment.id)}),
                )
            )
    return out


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
