"""Accelerator: attainment = won revenue ÷ the tier's quota; the highest band reached pays
(multiplier − 1) × the commission of the partner's deals not under the margin floor."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_FLOOR, Decimal

from cosell import hookimpl
from cosell.context import PartnerFacts, RunContext
from cosell.money import round_cents, show, show_number
from cosell.results import LineKind, PartnerStanding, PayoutLine, basis_tags

from .commission import KIND as COMMISSION
from .commission import MARGIN_FLOOR
from .metrics import WON_REVENUE

KIND = "accelerator"


@hookimpl(tryfirst=True)
def cosell_line_kinds() -> Iterable[LineKind]:
    return (LineKind(KIND, "Accelerator"),)


@hookimpl(tryfirst=True)
def cosell_payout_lines(
    partner: PartnerFacts, standing: PartnerStanding, lines: tuple[PayoutLine, ...], context: RunContext
) -> Iterable[PayoutLine]:
    program = context.program
    bands = program.payouts.accelerators if program.payouts else ()
    tier = program.tier(standing.tier.assigned)
    if not bands or tier is None or tier.quota == 0:
        return ()
    won = standing.metrics.get(WON_REVENUE)
    if won is None:
        won = Decimal(0)
    attainment = won / tier.quota
    reached = [band for band in bands if attainment >= band.attainment]
    if not reached:
        return ()
    band = max(reached, key=lambda b: b.attainment)
    eligible = [
        ln for ln in lines if ln.kind == COMMISSION and not ln.withheld and MARGIN_FLOOR not in ln.tags
    ]
    base = sum((ln.amount for ln in eligible), Decimal(0))
    if base == 0:
        return ()
    amount = round_cents((band.multiplier - 1) * base)
    floored = sum(1 for ln in lines if ln.kind == COMMISSION and MARGIN_FLOOR in ln.tags)
    shown = f"{attainment:.4f}"
    if any(Decimal(shown) >= b.attainment for b in bands if b.attainment > band.attainment):
        shown = (
            f"{attainment.quantize(Decimal('0.0001'), ROUND_FLOOR)}"  # not rounded up to a band not reached
        )
    text = (
        f"accelerator: won revenue {show(won)} ÷ {tier.name} quota {show(tier.quota)} = attainment "
        f"{shown}, band {show_number(band.attainment)} reached: ({show_number(band.multiplier)} − 1) × "
        f"commission {show(base)} = {show(amount)}"
    )
    if floored:
        text += f" ({floored} deal(s) under the margin floor left out)"
    return (
        PayoutLine(
            partner.id, KIND, amount, text, tags=basis_tags(COMMISSION, except_tagged=(MARGIN_FLOOR,))
        ),
    )
