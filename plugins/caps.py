"""The per-partner cap: when a partner's capped lines exceed ``caps.per_partner``, a negative ``cap``
line brings them to the cap. Lines whose kind is declared outside the cap (clawbacks, MDF) stay
outside. Per period."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from cosell import hookimpl
from cosell.context import RunContext
from cosell.money import floor_cents, show
from cosell.results import LineKind, PayoutLine

KIND = "cap"


@hookimpl(tryfirst=True)
def cosell_line_kinds() -> Iterable[LineKind]:
    return (LineKind(KIND, "Per-partner cap", capped=False, adjustment=True),)


def capped_total(lines: Iterable[PayoutLine], context: RunContext) -> Decimal:
    """The sum of a partner's lines whose kind counts toward the per-partner cap."""
    return sum((line.amount for line in lines if _counts(context.line_kind(line.kind))), Decimal(0))


def _counts(kind: LineKind | None) -> bool:
    return kind is not None and kind.capped


@hookimpl(tryfirst=True)
def cosell_adjustments(
    lines: Mapping[str, tuple[PayoutLine, ...]], context: RunContext
) -> Iterable[PayoutLine]:
    out = []
    for partner_id, partner_lines in lines.items():
        caps = context.program_of(partner_id).caps  # under a pilot, the arm's program's cap
        if caps is None or caps.per_partner is None:
            continue
        cap = caps.per_partner
        total = capped_total(partner_lines, context)
        if total > cap:
            # The lines are in cents: a cap with a fraction of a cent (100.005) caps at the cent below it,
            # which the lines never exceed, and which the explanation shows.
            applied = floor_cents(cap)
            text = f"cap: lines subject to the cap add up to {show(total)}, above the per-partner cap of {show(applied)}"
            out.append(PayoutLine(partner_id, KIND, applied - total, text))
    return out
