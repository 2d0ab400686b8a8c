"""A statement's steps (the subtotal, the per-partner cap, the program budget, period earnings) follow the
line kinds' declared flags: the cap and budget steps speak of the same totals the cap and budget rules
worked on."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cosell import hookimpl
from cosell.ledger import Ledger
from cosell.money import show
from cosell.pluginmanager import Plugins
from cosell.results import LineKind, PayoutLine
from cosell.statements.document import document
from cosell.testing import deal, partner, program, run_program

ZERO = Decimal(0)
KIND = "extra"


class Flagged:
    """A plugin with one kind of drawn flags. Its lines come with the payout lines; an adjustment kind's
    come among the adjustments (after the cap, before the budget), where such lines are made."""

    def __init__(self, kind: LineKind, amounts: dict[str, list[Decimal]]) -> None:
        self.kind = kind
        self.amounts = amounts

    def _lines(self, partner_id: str) -> list[PayoutLine]:
        return [
            PayoutLine(partner_id, KIND, amount, f"extra: {show(amount)}")
            for amount in self.amounts.get(partner_id, ())
        ]

    @hookimpl
    def cosell_line_kinds(self) -> list[LineKind]:
        return [self.kind]

    @hookimpl
    def cosell_payout_lines(self, partner: Any) -> list[PayoutLine]:
        return [] if self.kind.adjustment else self._lines(partner.id)

    @hookimpl
    def cosell_adjustments(self, lines: dict[str, Any]) -> list[PayoutLine]:
        return [ln for pid in sorted(lines) for ln in self._lines(pid)] if self.kind.adjustment else []


def p1_statement(ledger: Ledger, kind: LineKind, budget: str) -> Any:
    """P1's statement: commission 2,000.00 and a 600.00 line of ``kind``; P2: commission 2,000.00. The
    per-partner cap is 1,000.00."""
    text = "program: P\nperiod: 2026-Q3\ncurrency: USD\ntiers:\n  - {name: R, min_score: 0, commission_rate: '0.10'}\n"
    loaded = program(text + f"caps: {{per_partner: 1000, program_budget: {budget}}}\n")
    plugins = Plugins(entry_points=False, extra={"flagged": Flagged(kind, {"P1": [Decimal("600.00")]})})
    deals = [deal(d, "20000", partners=[p], won_on="2026-08-01") for d, p in (("D1", "P1"), ("D2", "P2"))]
    run_program(loaded, [partner("P1"), partner("P2")], deals, ledger=ledger, plugins=plugins)
    [p1, _] = document(ledger, "2026-Q3", None).statements
    return p1


def test_a_kind_inside_the_cap_but_outside_the_budget_is_capped_and_never_scaled_on_the_statement(
    cosell_ledger: Ledger,
) -> None:
    # The cap takes P1's 2,600.00 to 1,000.00 (−1,600.00). The budget sees 2,000.00 − 1,600.00 = 400.00 of
    # P1 and 2,000.00 − 1,000.00 of P2: 1,400.00 against 1,050.00, a factor of 0.75: 400.00 becomes 300.00.
    p1 = p1_statement(cosell_ledger, LineKind(KIND, "Extra", capped=True, in_budget=False), "1050")
    adj = p1.adjustments
    assert adj.cap_text() == "capped from 2,600.00 to 1,000.00"
    assert adj.budget_text() == "scaled by the program budget from 400.00 to 300.00"
    assert adj.cap == Decimal("-1600.00") and adj.budget == Decimal("-100.00")
    assert adj.earnings == Decimal("900.00")  # 2,600 − 1,600 − 100: the 600 is in it, capped, not scaled


def test_a_kind_outside_the_cap_but_inside_the_budget_is_scaled_and_never_capped_on_the_statement(
    cosell_ledger: Ledger,
) -> None:
    # The cap takes P1's commission of 2,000.00 to 1,000.00; the 600.00 is outside it. The budget sees
    # 1,600.00 of P1 and 1,000.00 of P2: 2,600.00 against 1,300.00, a factor of 0.5: 1,600.00 becomes 800.00.
    p1 = p1_statement(cosell_ledger, LineKind(KIND, "Extra", capped=False, in_budget=True), "1300")
    adj = p1.adjustments
    assert adj.cap_text() == "capped from 2,000.00 to 1,000.00"
    assert adj.budget_text() == "scaled by the program budget from 1,600.00 to 800.00"
    assert adj.subtotal == Decimal("2600.00") and adj.outside_caps == Decimal("600.00")
    assert adj.earnings == Decimal("800.00")
