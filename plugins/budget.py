"""The program budget: when all partners' capped totals exceed ``caps.program_budget``, each partner gets
capped × budget ÷ sum, floored to cents; the cents left over go one each to the largest remainders (ties
by partner id, ascending). The difference is a negative ``budget`` line. Runs after every other adjustment."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction

from cosell import hookimpl
from cosell.context import RunContext
from cosell.money import show
from cosell.results import INTERNAL_NOTE, LineKind, PayoutLine

KIND = "budget"


@hookimpl(tryfirst=True)
def cosell_line_kinds() -> Iterable[LineKind]:
    return (LineKind(KIND, "Program budget", capped=False, in_budget=False, adjustment=True),)


def scaled_totals(totals: Mapping[str, Decimal], budget: Decimal) -> dict[str, Decimal]:
    """Each total scaled to fit the budget, to the cent, the leftover cents to the largest remainders.
    Worked in exact fractions of a cent: equal remainders are equal (28-digit division would make them
    differ by the number of digits before the point), so ties go by partner id."""
    whole = Fraction(sum(totals.values(), Decimal(0)))
    exact = {pid: Fraction(total) * Fraction(budget) * 100 / whole for pid, total in totals.items()}
    cents = {pid: math.floor(value) for pid, value in exact.items()}
    left = math.floor(Fraction(budget) * 100) - sum(cents.values())
    by_remainder = sorted(exact, key=lambda pid: (-(exact[pid] - cents[pid]), pid))
    for pid in by_remainder[:left]:
        cents[pid] += 1
    return {pid: Decimal(n).scaleb(-2) for pid, n in cents.items()}


def budgeted_total(lines: Iterable[PayoutLine], context: RunContext) -> Decimal:
    """The sum of a partner's lines whose kind counts toward the program budget (after the cap)."""
    total = Decimal(0)
    for line in lines:
        kind = context.line_kind(line.kind)
        if kind is not None and kind.in_budget:
            total += line.amount
    return total


@hookimpl(trylast=True)
def cosell_adjustments(
    lines: Mapping[str, tuple[PayoutLine, ...]], context: RunContext
) -> Iterable[PayoutLine]:
    caps = context.program.caps
    if caps is None or caps.program_budget is None:
        return ()
    budget = caps.program_budget
    totals = {pid: budgeted_total(partner_lines, context) for pid, partner_lines in lines.items()}
    totals = {pid: total for pid, total in totals.items() if total > 0}
    whole = sum(totals.values(), Decimal(0))
    if whole <= budget:
        return ()
    scaled = scaled_totals(totals, budget)
    factor = budget / whole
    internal = (
        f"{INTERNAL_NOTE}all partners' totals subject to the budget add up to {show(whole)}, above the "
        f"program budget of {show(budget)}"
    )
    out: list[PayoutLine] = []
    for pid in sorted(totals):
        cut = scaled[pid] - totals[pid]
        if cut:
            # A partner reads its own amounts and the factor, never the program's total or budget.
            text = (
                f"budget: the program budget is exceeded, so every partner's total subject to it is scaled "
                f"by {factor:.6f}; this partner's {show(totals[pid])} is scaled to {show(scaled[pid])}"
            )
            out.append(PayoutLine(pid, KIND, cut, text, tags=frozenset({internal})))
    return out
