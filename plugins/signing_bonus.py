"""Signing bonus: paid once, in the period that holds the partner's ``joined_on``."""

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
    if joined not in context.period:
        return ()
    amount = round_cents(payouts.signing_bonus)
    return (
        PayoutLine(
            partner.id, KIND, amount, f"signing bonus: joined the program on {joined}, {show(amount)}"
        ),
    )
