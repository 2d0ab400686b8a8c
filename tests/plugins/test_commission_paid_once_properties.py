"""A deal's commission is paid once over drawn programs and drawn records: 2026-Q3 is run and closed, its
deals are then moved to other partners or shared with more, and 2026-Q4 pays no commission on a deal of
2026-Q3 whose commission a partner was paid and keeps, whoever holds the deal now."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cosell.results import History, LedgerLine
from cosell.testing import compute_period
from program_strategies import FAST, PARTNERS, build_program, datas, program_docs


def moved(d: dict[str, Any], draw: st.DataObject) -> dict[str, Any]:
    """The deal with its partners drawn again: moved to others, shared with more, or as it was."""
    who = draw.draw(st.lists(st.sampled_from(PARTNERS), min_size=1, max_size=3, unique=True))
    role = draw.draw(st.sampled_from(["sourced", "cosell", "influenced"]))
    return {**d, "partners": [(pid, role, None) for pid in who]}


@FAST
@given(program_docs(), datas(), st.data())
def test_a_deal_of_a_closed_period_paid_to_a_partner_is_paid_nothing_more_whoever_holds_it(doc, data, draw):
    loaded = build_program(doc)
    q3 = compute_period(loaded, *data.build(), period="2026-Q3")
    by_partner: dict[str, list[LedgerLine]] = defaultdict(list)
    kept: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for ln in q3.all_lines():
        by_partner[ln.partner_id].append(
            LedgerLine(
                "2026-Q3",
                ln.partner_id,
                ln.kind,
                ln.amount,
                ln.explanation,
                ln.deal_id,
                ln.withheld,
                ln.uncapped,
                ln.tags,
            )
        )
        if ln.deal_id is not None and ln.kind in ("commission", "clawback"):
            kept[ln.deal_id, ln.partner_id] += ln.amount
    paid = {deal for (deal, _), amount in kept.items() if amount != 0}
    history = History(
        closed_periods=frozenset({"2026-Q3"}),
        lines=MappingProxyType({pid: tuple(lines) for pid, lines in by_partner.items()}),
    )
    data = data.with_records(deals=[moved(d, draw) for d in data.deals])
    q4 = compute_period(loaded, *data.build(), period="2026-Q4", history=history)
    again = [ln for ln in q4.all_lines() if ln.kind == "commission" and ln.deal_id in paid]
    assert all(ln.amount == 0 for ln in again), again
    for ln in again:
        assert (
            "its commission was paid in 2026-Q3" in ln.explanation and "not paid before" not in ln.explanation
        )
