"""A ledger keeps one program currency: its lines are amounts in it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cosell.errors import ConfigError
from cosell.testing import deal, partner, program, run_program


def test_a_run_in_another_currency_than_the_ledgers_periods_is_refused_before_anything_is_computed(
    cosell_ledger,
):
    usd = program(
        tiers=[{"name": "Silver", "min_score": 0, "commission_rate": "0.10"}], clawback_window_days=90
    )
    eur = program(
        tiers=[{"name": "Silver", "min_score": 0, "commission_rate": "0.10"}],
        clawback_window_days=90,
        currency="EUR",
        fx={"USD": "0.8"},
    )
    won = [deal("D1", "1000", partners=["P1"], won_on="2026-08-01")]
    run_program(usd, [partner("P1")], won, ledger=cosell_ledger, period="2026-Q3")
    refunded = [deal("D1", "1000", partners=["P1"], won_on="2026-08-01", refunded_on="2026-10-10")]
    with pytest.raises(ConfigError) as refused:
        run_program(eur, [partner("P1")], refunded, ledger=cosell_ledger, period="2026-Q4")
    assert refused.value.exit_code == 2
    assert (
        "the program's currency is EUR, but this ledger's lines of 2026-Q3 are in USD"
        in refused.value.message
    )
    assert cosell_ledger.periods() == [("2026-Q3", "open")]  # nothing stored


def test_the_period_being_run_again_may_change_currency_its_lines_are_replaced(cosell_ledger):
    usd = program(tiers=[{"name": "Silver", "min_score": 0, "commission_rate": "0.10"}])
    eur = program(
        tiers=[{"name": "Silver", "min_score": 0, "commission_rate": "0.10"}],
        currency="EUR",
        fx={"USD": "0.8"},
    )
    won = [deal("D1", "1000", partners=["P1"], won_on="2026-08-01")]
    run_program(usd, [partner("P1")], won, ledger=cosell_ledger, period="2026-Q3")
    again = run_program(eur, [partner("P1")], won, ledger=cosell_ledger, period="2026-Q3")
    assert [ln.amount for ln in again.lines] == [Decimal("80.00")]  # USD 1,000 at 0.8 × 10 %
