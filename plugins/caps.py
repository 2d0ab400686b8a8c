"""The per-partner cap: when a partner's capped lines exceed ``caps.per_partner``, a negative ``cap``
line brings them to the cap. Lines marked ``uncapped`` (clawbacks, MDF) stay outside. Per period."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from cosell import hookimpl
from cosell.context import RunContext
from cosell.money import show
from cosell.results import PayoutLine

KIND = "cap"


def capped_total(lines: Iterable[PayoutLine]) -> Decimal:
    """The sum of a partner's lines that count toward caps and the budget."""
    return sum((line.amount for line in lines if not line.uncapped), Decimal(0))


@hookimpl(tryfirst=True)
def cosell_adjustments(
    lines: Mapping[str, tuple[PayoutLine, ...]], context: RunContext
) -> Iterable[PayoutLine]:
    caps = context.program.caps
    if caps is None or caps.per_partner is None:
        return ()
    cap = caps.per_partner
    out = []
    for partner_id, partner_lines in lines.items():
        total = capped_total(partner_lines)
        if total > cap:
            text = f"cap: lines subject to the cap add up to {show(total)}, above the per-partner cap of {show(cap)}"
            out.append(PayoutLine(partner_id, KIND, cap - total, text))
    return out
