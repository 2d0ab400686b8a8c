"""Signing bonus: paid once, in the period that holds the partner's ``joined_on``; for a partner whose
``joined_on`` falls in a closed period that never paid it (the partner entered late), in the period
being run. Never twice: a bonus paid before ``joined_on`` was corrected into a later period is not paid
again."""

from __future__ import annotations

from collections.abc import Iterable

from cosell import hookimpl
from cosell.context import PartnerFacts, RunContext
from cosell.money import round_cents, show
from cosell.results import LineKind, PayoutLine

KIND = "signing_bonus"


@hookimpl(tryfirst=True)
def cosell_line_kinds() -> Iterable[LineKind]:
    return (LineKind(KIND, "Signing bonus"),)


@hookimpl(tryfirst=True)
def cosell_payout_lines(partner: PartnerFacts, context: RunContext) -> Iterable[PayoutLine]:
    payouts = context.program.payouts
    if payouts is None or payouts.signing_bonus is None:
        return ()
    joined = partner.partner.joined_on
    late = ""
    if joined not in context.period:
        held = context.closed_period_holding(joined)
        if held is None:
            return ()
        late = f", in closed period {held}, not paid before"
    if context.history.lines_of(partner.id, kinds=(KIND,)):
        return ()  # paid in an earlier period (its joined_on has been corrected since)
    amount = round_cents(payouts.signing_bonus)
    text = f"signing bonus: joined the program on {joined}{late}, {show(amount)}"
    return (PayoutLine(partner.id, KIND, amount, text),)
