from datetime import date, timedelta
from decimal import Decimal
from types import MappingProxyType

from hypothesis import given
from hypothesis import strategies as st

from cosell.records import Merge
from cosell.results import History, LedgerLine
from cosell.testing import compute_period, deal, partner, program
from program_strategies import FAST

TIERS = [{"name": "Registered", "min_score": 0, "commission_rate": "0.10"}]


def history_of(*lines, closed=()):
    """A history holding ``lines``, each under its partner in the order given; ``closed`` periods closed."""
    by_partner = {}
    for line in lines:
        by_partner[line.partner_id] = (*by_partner.get(line.partner_id, ()), line)
    return History(lines=MappingProxyType(by_partner), closed_periods=frozenset(closed))


def paid(period, partner_id, amount, kind="commission"):
    """A line of ``period`` that paid ``partner_id`` on deal D1."""
    return LedgerLine(period, partner_id, kind, Decimal(amount), "paid", "D1")


def taken_back(period, partner_id, amount):
    """A clawback line of ``period`` taking back from ``partner_id`` what deal D1 paid."""
    return LedgerLine(period, partner_id, "clawback", Decimal(amount), "taken back", "D1")


def paid_in_q2(amount="1000.00", kind="commission"):
    return history_of(paid("2026-Q2", "P1", amount, kind))


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
    history = history_of(paid("2026-Q2", "P1", "1000.00"), taken_back("2026-Q2", "P1", "-1000.00"))
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
    paid_q3 = history_of(paid("2026-Q3", "P1", "600.00"), closed=("2026-Q3",))
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


def paid_both_in_q3(p1="900.00", p2="100.00"):
    return history_of(paid("2026-Q3", "P1", p1), paid("2026-Q3", "P2", p2), closed=("2026-Q3",))


def refund_after_partners_changed(on_deal, *, window=90, refunded_on="2026-10-20", history=None):
    """D1 won 2026-08-01 and paid in 2026-Q3 (closed) to P1 and P2; refunded in 2026-Q4, when the deal
    names ``on_deal``."""
    d = deal(
        "D1", "10000", partners=on_deal, created_on="2026-07-01", won_on="2026-08-01", refunded_on=refunded_on
    )
    prog = program(tiers=TIERS, clawback_window_days=window)
    partners = [partner("P1"), partner("P2"), partner("P3")]
    result = compute_period(prog, partners, [d], period="2026-Q4", history=history or paid_both_in_q3())
    return sorted(
        (line.partner_id, line.amount) for line in result.all_lines() if line.kind == "clawback"
    ), result


def test_a_partner_taken_off_a_paid_deal_before_its_refund_is_clawed_back_too():
    found, result = refund_after_partners_changed(["P1"])
    assert found == [("P1", Decimal("-900.00")), ("P2", Decimal("-100.00"))]
    [taken] = [ln for ln in result.all_lines() if ln.partner_id == "P2"]
    assert taken.deal_id == "D1"
    assert "was refunded on 2026-10-20, 80 days after it was won on 2026-08-01" in taken.explanation
    assert "the commission of 100.00 paid in 2026-Q3 is taken back" in taken.explanation
    assert "no longer names the partner" in taken.explanation


def test_a_partner_added_to_a_deal_after_it_was_paid_is_not_clawed_back_for_a_commission_it_never_got():
    found, result = refund_after_partners_changed([("P1", "sourced", "0.9"), ("P3", "cosell", "0.1")])
    assert found == [("P1", Decimal("-900.00")), ("P2", Decimal("-100.00"))]
    # P3's late commission on a deal of a closed period, refunded before it is paid, is 0
    assert [ln.amount for ln in result.all_lines() if ln.partner_id == "P3"] in ([], [Decimal("0.00")])


def test_a_partner_taken_off_a_deal_is_clawed_back_once():
    once = history_of(
        paid("2026-Q3", "P1", "900.00"),
        paid("2026-Q3", "P2", "100.00"),
        taken_back("2026-Q4", "P2", "-100.00"),
        closed=("2026-Q3", "2026-Q4"),
    )
    d = deal(
        "D1", "10000", partners=["P1"], created_on="2026-07-01", won_on="2026-08-01", refunded_on="2026-10-20"
    )
    prog = program(tiers=TIERS, clawback_window_days=90)
    result = compute_period(prog, [partner("P1"), partner("P2")], [d], period="2027-Q1", history=once)
    assert [(ln.partner_id, ln.amount) for ln in result.all_lines() if ln.kind == "clawback"] == [
        ("P1", Decimal("-900.00"))
    ]


def test_a_partner_merged_into_another_and_taken_off_the_deal_is_clawed_back_under_the_partner_it_lives_on():
    # P2 was paid on D1 in 2026-Q3; since, the CRM merged P2 into P3 and the deal names P1 alone
    d = deal(
        "D1", "10000", partners=["P1"], created_on="2026-07-01", won_on="2026-08-01", refunded_on="2026-10-20"
    )
    prog = program(tiers=TIERS, clawback_window_days=90)
    result = compute_period(prog, [partner("P1"), partner("P3")], [d], merges=[Merge("partner", "P2", "P3")],
                            period="2026-Q4", history=paid_both_in_q3())  # fmt: skip
    assert sorted((ln.partner_id, ln.amount) for ln in result.all_lines() if ln.kind == "clawback") == [
        ("P1", Decimal("-900.00")),
        ("P3", Decimal("-100.00")),
    ]


@FAST
@given(
    days=st.integers(0, 150),
    window=st.sampled_from(("absent", "zero", "days", "day before", "day after", "drawn")),
    drawn=st.integers(0, 400),
    paid=st.decimals("0.01", "100000", places=2),
    still_on_deal=st.booleans(),
)
def test_a_refund_claws_back_every_partner_paid_whether_or_not_the_deal_still_names_it(
    days, window, drawn, paid, still_on_deal
):
    # D1 won 2026-08-01 and paid in 2026-Q3 (closed) to P1 and P2; refunded `days` later; 2026-Q4 is run
    won = date(2026, 8, 1)
    refunded = won + timedelta(days=days)
    window_days = {"absent": None, "zero": 0, "days": days, "day before": max(days - 1, 0),
                   "day after": days + 1, "drawn": drawn}[window]  # fmt: skip
    on_deal = [("P1", "sourced", "0.5"), ("P2", "cosell", "0.5")] if still_on_deal else ["P1"]
    d = deal(
        "D1", "10000", partners=on_deal, created_on="2026-07-01", won_on=str(won), refunded_on=str(refunded)
    )
    overrides = {} if window_days is None else {"clawback_window_days": window_days}
    prog = program(tiers=TIERS, **overrides)
    result = compute_period(prog, [partner("P1"), partner("P2")], [d], period="2026-Q4",
                            history=paid_both_in_q3(p2=str(paid)))  # fmt: skip
    clawed = sorted((ln.partner_id, ln.amount) for ln in result.all_lines() if ln.kind == "clawback")
    inside = window_days is not None and days <= window_days and refunded <= date(2026, 12, 31)
    assert clawed == ([("P1", Decimal("-900.00")), ("P2", -paid)] if inside else [])


def test_the_exit_settlement_counts_a_deal_the_partner_was_taken_off_as_at_risk_while_its_window_is_open():
    from cosell.settlement import AT_RISK, settlement_of
    from cosell.testing import plugins_for

    d = deal("D1", "10000", partners=["P1"], created_on="2026-07-01", won_on="2026-08-01")
    prog = program(tiers=TIERS, clawback_window_days=200, wind_down_days=30)
    partners = [partner("P1"), partner("P2", status="exiting", exit_on="2026-10-15")]
    result = compute_period(prog, partners, [d], period="2026-Q4", history=paid_both_in_q3())
    facts, standing = result.facts[1], result.standings[1]
    found = settlement_of(plugins_for(None), facts, standing, result.lines.get("P2", ()), result.context)
    assert found is not None
    # won 2026-08-01 + 200 days = 2027-02-17: a refund until then takes back the 100.00 P2 was paid
    assert found.total(AT_RISK) == Decimal("-100.00")
