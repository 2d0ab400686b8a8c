"""The program budget: when all partners' capped totals exceed ``caps.program_budget``, each partner gets
capped × budget ÷ sum, floored to cents; the cents left over go one each to the largest remainders (ties
by partner id, ascending). The difference is a negative ``budget`` line. Runs after every other adjustment."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from cosell import hookimpl
from cosell.context import RunContext
from cosell.money import CENT, floor_cents, show
from cosell.results import PayoutLine

from .caps import capped_total

KIND = "budget"


def scaled_totals(totals: Mapping[str, Decimal], budget: Decimal) -> dict[str, Decimal]:
    """Each total scaled to fit the budget, to the cent, the leftover cents to the largest remainders."""
    whole = sum(totals.values(), Decimal(0))
    exact = {pid: total * budget / whole for pid, total in totals.items()}
    floored = {pid: floor_cents(value) for pid, value in exact.items()}
    left = int((budget - sum(floored.values(), Decimal(0))) / CENT)
    by_remainder = sorted(exact, key=lambda pid: (-(exact[pid] - floored[pid]), pid))
    for pid in by_remainder[:left]:
        floored[pid] += CENT
    return floored


@hookimpl(trylast=True)
def cosell_adjustments(
    lines: Mapping[str, tuple[PayoutLine, ...]], context: RunContext
) -> Iterable[PayoutLine]:
    caps = context.program.caps
    if caps is None or caps.program_budget is None:
        return ()
    budget = caps.program_budget
    totals = {pid: capped_total(partner_lines) for pid, partner_lines in lines.items()}
    totals = {pid: total for pid, total in totals.items() if total > 0}
    whole = sum(totals.values(), Decimal(0))
    if whole <= budget:
        return ()
    scaled = scaled_totals(totals, budget)
    out = []
    for pid in sorted(totals):
        cut = scaled[pid] - totals[pid]
        if cut:
            text = (
                f"budget: all partners' capped totals add up to {show(whole)}, above the program budget of "
                f"{show(budget)}; this partner's {show(totals[pid])} is scaled to {show(scaled[pid])}"
            )
            out.append(PayoutLine(pid, KIND, cut, text))
    return out
