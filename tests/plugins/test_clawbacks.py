from decimal import Decimal
from types import MappingProxyType

from cosell.results import History, LedgerLine
from cosell.testing import compute_period, deal, partner, program

TIERS = [{"name": "Registered", "min_score": 0, "commission_rate": "0.10"}]


def paid_in_q2(amount="1000.00", kind="commission"):
    return History(
        lines=MappingProxyType({"P1": (LedgerLine("2026-Q2", "P1", kind, Decimal(amount), "paid", "D1"),)})
    )


def clawbacks(refunded_on, history=None, window=90, closed="2026-06-15"):
    d = deal("D1", "10000", partners=["P1"], created_on="2026-05-01", won_on=closed, refunded_on=refunded_on)
    prog = program(tiers=TIERS, clawback_window_days=window, caps={"per_partner": 100})
    result = compute_period(prog, [partner("P1")], [d], history=history or paid_in_q2())
    return [line for line in result.all_lines() if line.kind in ("clawback", "cap")]


def test_refund_one_day_inside_the_window_claws_back_the_commission_paid_earlier():
    # won 2026-06-15 + 90 days = 2026-09-13, the last day inside the window (inclusive)
    [line] = clawbacks("2026-09-13")
    assert (line.kind, line.amount, line.deal_id) == ("clawback", Decimal("-1000.00"), "D1")
    assert "paid in 2026-Q2 is taken back" in line.explanation and line.uncapped


def test_refund_one_day_outside_the_window_changes_nothing():
    assert clawbacks("2026-09-14") == []


def test_clawback_is_outside_the_cap():
    assert [line.kind for line in clawbacks("2026-07-01")] == ["clawback"]  # no cap line for a negative total


def test_clawback_happens_once_per_deal_and_partner():
    history = History(
        lines=MappingProxyType(
            {
                "P1": (
                    LedgerLine("2026-Q2", "P1", "commission", Decimal("1000.00"), "paid", "D1"),
                    LedgerLine("2026-Q2", "P1", "clawback", Decimal("-1000.00"), "taken back", "D1"),
                )
            }
        )
    )
    assert clawbacks("2026-07-01", history=history) == []


def test_refund_in_a_later_period_than_the_run_waits_for_its_period():
    assert clawbacks("2026-10-01") == []


def test_without_a_clawback_window_a_refund_changes_nothing():
    d = deal(
        "D1", "10000", partners=["P1"], created_on="2026-05-01", won_on="2026-06-15", refunded_on="2026-07-01"
    )
    result = compute_period(program(tiers=TIERS), [partner("P1")], [d], history=paid_in_q2())
    assert result.all_lines() == []


def test_deal_refunded_in_the_period_it_was_won_earns_a_zero_commission_with_the_reason():
    d = deal(
        "D1", "10000", partners=["P1"], created_on="2026-07-01", won_on="2026-07-10", refunded_on="2026-07-20"
    )
    result = compute_period(program(tiers=TIERS, clawback_window_days=30), [partner("P1")], [d])
    [line] = result.all_lines()
    assert (line.kind, line.amount, line.withheld) == ("commission", Decimal("0.00"), True)
    assert "refunded 2026-07-20 in the period it was won" in line.explanation


def test_a_refund_in_the_won_period_entered_after_that_period_was_run_is_clawed_back_in_the_next():
    """Won and paid in 2026-Q3 (run and closed before the refund was known), refunded on 2026-09-15:
    the 2026-Q4 run takes the commission back, as a closed period is never rewritten."""
    paid_q3 = History(
        lines=MappingProxyType(
            {"P1": (LedgerLine("2026-Q3", "P1", "commission", Decimal("600.00"), "paid", "D1"),)}
        ),
        closed_periods=frozenset({"2026-Q3"}),
    )
    d = deal(
        "D1", "6000", partners=["P1"], created_on="2026-07-01", won_on="2026-08-01", refunded_on="2026-09-15"
    )
    prog = program(tiers=TIERS, clawback_window_days=90)
    result = compute_period(prog, [partner("P1")], [d], period="2026-Q4", history=paid_q3)
    [line] = result.all_lines()
    assert (line.kind, line.amount, line.deal_id) == ("clawback", Decimal("-600.00"), "D1")
    assert (
        "paid in 2026-Q3 is taken back (refund in 2026-Q3, entered after that period was run)"
        in line.explanation
    )
