"""Baseline: a fixed amount for every qualified opportunity the partner sourced in the period.

A count, not weighted by share. An exiting partner earns none for deals created after ``exit_on``.
"""

from __future__ import annotations

from collections.abc import Iterable

from cosell import hookimpl
from cosell.context import PartnerFacts, RunContext
from cosell.money import round_cents, show
from cosell.results import LineKind, PayoutLine

KIND = "baseline"


@hookimpl(tryfirst=True)
def cosell_line_kinds() -> Iterable[LineKind]:
    return (LineKind(KIND, "Baseline"),)


@hookimpl(tryfirst=True)
def cosell_payout_lines(partner: PartnerFacts, context: RunContext) -> Iterable[PayoutLine]:
    payouts = context.program.payouts
    if payouts is None or payouts.baseline_per_qualified_opportunity is None:
        return ()
    period = context.period
    qualified_stages = frozenset(context.program.qualified_stages)
    last_day = period.end
    exit_on = partner.partner.exit_on if partner.partner.status != "active" else None
    if exit_on is not None and exit_on < last_day:
        last_day = exit_on
    ids = sorted(
        pd.deal.id
        for pd in partner.deals
        if pd.role == "sourced"
        and period.start <= pd.deal.created_on <= last_day
        and (pd.deal.status == "won" or pd.deal.stage in qualified_stages)
    )
    if not ids:
        return ()
    each = payouts.baseline_per_qualified_opportunity
    amount = round_cents(each * len(ids))
    shown = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
    text = f"baseline: {len(ids)} qualified opportunit{'y' if len(ids) == 1 else 'ies'} sourced ({shown}) × {show(each)} = {show(amount)}"
    if last_day != period.end:
        text += f" (none counted after the partner's exit on {exit_on})"
    return (PayoutLine(partner.id, KIND, amount, text),)
