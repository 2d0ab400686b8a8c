from decimal import Decimal
from types import MappingProxyType

from cosell.results import History, LedgerLine
from cosell.testing import compute_period, deal, partner, program

TIERS = [{"name": "Registered", "min_score": 0, "commission_rate": "0.10"}]
PAYOUTS = {"role_multipliers": {"sourced": "1.0", "cosell": "0.5"}}


def lines_of(deals, pid="P1", history=None, **overrides):
    prog = program(tiers=TIERS, payouts=PAYOUTS, fx={"EUR": "1.08"}, **overrides)
    result = compute_period(prog, [partner("P1"), partner("P2")], deals, history=history)
    return [line for line in result.all_lines() if line.partner_id == pid]


def test_commission_is_amount_times_share_times_role_multiplier_times_tier_rate():
    [line] = lines_of(
        [deal("D1", "10000", partners=[("P1", "cosell", "0.3"), ("P2", "sourced")], won_on="2026-08-01")]
    )
    assert line.amount == Decimal("150.00")  # 10000 × 0.3 × 0.5 × 0.10
    assert line.kind == "commission" and line.deal_id == "D1"
    assert "× share 0.3 × cosell 0.5 × Registered rate 10%" in line.explanation


def test_role_missing_from_multipliers_counts_as_one():
    [line] = lines_of([deal("D1", "1000", partners=[("P1", "influenced")], won_on="2026-08-01")])
    assert line.amount == Decimal("100.00")


def test_commission_rounds_half_up_to_cents():
    [line] = lines_of([deal("D1", "0.45", partners=["P1"], won_on="2026-08-01")])  # 0.045 → 0.05
    assert line.amount == Decimal("0.05")


def test_only_deals_won_in_the_period_pay():
    lines = lines_of(
        [
            deal("D1", "1000", partners=["P1"], won_on="2026-06-30"),
            deal("D2", "1000", partners=["P1"], won_on="2026-10-01"),
            deal("D3", "1000", partners=["P1"], lost_on="2026-08-01"),
            deal("D4", "1000", partners=["P1"]),
        ]
    )
    assert lines == []


def test_foreign_currency_is_converted_before_commission():
    [line] = lines_of([deal("D1", "1000", currency="EUR", partners=["P1"], won_on="2026-08-01")])
    assert line.amount == Decimal("108.00")


def test_deal_won_in_a_closed_period_that_was_never_paid_is_paid_once_now():
    history = History(closed_periods=frozenset({"2026-Q2"}))
    [line] = lines_of(
        [deal("D1", "1000", partners=["P1"], created_on="2026-04-01", won_on="2026-06-15")], history=history
    )
    assert line.amount == Decimal("100.00") and "not paid before" in line.explanation
    paid = History(
        closed_periods=frozenset({"2026-Q2"}),
        lines=MappingProxyType(
            {"P1": (LedgerLine("2026-Q2", "P1", "commission", Decimal("100.00"), "x", "D1"),)}
        ),
    )
    assert (
        lines_of(
            [deal("D1", "1000", partners=["P1"], created_on="2026-04-01", won_on="2026-06-15")], history=paid
        )
        == []
    )


def test_deal_of_an_earlier_period_that_is_not_closed_is_not_paid_late():
    assert lines_of([deal("D1", "1000", partners=["P1"], created_on="2026-04-01", won_on="2026-06-15")]) == []


def test_a_late_commission_on_a_deal_refunded_before_it_is_paid_is_zero_with_the_reason():
    history = History(closed_periods=frozenset({"2026-Q2"}))
    refunded = deal(
        "D1", "1000", partners=["P1"], created_on="2026-04-01", won_on="2026-06-20", refunded_on="2026-07-10"
    )
    [line] = lines_of([refunded], history=history, clawback_window_days=90)
    assert (line.amount, line.withheld) == (Decimal("0.00"), True)
    assert "not paid before: 0.00, refunded 2026-07-10 before this commission was paid" in line.explanation
    # refunded after this period's end: paid now, and the refund's period claws it back
    later = deal(
        "D1", "1000", partners=["P1"], created_on="2026-04-01", won_on="2026-06-20", refunded_on="2026-08-10"
    )
    [paid] = lines_of([later], clawback_window_days=90, period="2026-Q2")
    assert paid.amount == Decimal("100.00")


def test_a_deal_won_again_after_it_was_reopened_is_paid_once():
    paid_q2 = History(
        lines=MappingProxyType(
            {"P1": (LedgerLine("2026-Q2", "P1", "commission", Decimal("100.00"), "x", "D1"),)}
        )
    )
    rewon = deal("D1", "1000", partners=["P1"], created_on="2026-04-01", won_on="2026-08-05")
    [line] = lines_of([rewon], history=paid_q2)
    assert line.amount == Decimal("0.00") and line.kind == "commission"
    assert "its commission was paid in 2026-Q2" in line.explanation
    taken_back = History(
        lines=MappingProxyType(
            {
                "P1": (
                    LedgerLine("2026-Q2", "P1", "commission", Decimal("100.00"), "x", "D1"),
                    LedgerLine("2026-Q2", "P1", "clawback", Decimal("-100.00"), "refunded", "D1"),
                )
            }
        )
    )
    [again] = lines_of([rewon], history=taken_back)  # all of it taken back: the new win pays
    assert again.amount == Decimal("100.00")


def paid_in_q2(*lines):
    """A history where 2026-Q2 is closed and paid ``lines`` (partner id, kind, amount) on D1."""
    by_partner: dict[str, tuple[LedgerLine, ...]] = {}
    for pid, kind, amount in lines:
        line = LedgerLine("2026-Q2", pid, kind, Decimal(amount), "x", "D1")
        by_partner[pid] = (*by_partner.get(pid, ()), line)
    return History(closed_periods=frozenset({"2026-Q2"}), lines=MappingProxyType(by_partner))


def test_a_deal_of_a_closed_period_paid_to_another_partner_is_not_paid_again_when_it_moves():
    moved = deal("D1", "1000", partners=["P1"], created_on="2026-04-01", won_on="2026-06-15")
    [line] = lines_of([moved], history=paid_in_q2(("P2", "commission", "100.00")))
    assert (line.amount, line.kind, line.deal_id) == (Decimal("0.00"), "commission", "D1")
    assert "not paid before" not in line.explanation
    assert "0.00, its commission was paid in 2026-Q2 to another partner" in line.explanation


def test_a_partner_added_to_a_deal_of_a_closed_period_paid_to_another_is_paid_nothing_on_it():
    shared = deal("D1", "1000", partners=["P1", "P2"], created_on="2026-04-01", won_on="2026-06-15")
    paid = paid_in_q2(("P2", "commission", "100.00"))
    [line] = lines_of([shared], history=paid)
    assert line.amount == Decimal("0.00") and "paid in 2026-Q2 to another partner" in line.explanation
    assert lines_of([shared], pid="P2", history=paid) == []  # paid once already


def test_a_deal_of_a_closed_period_whose_commission_was_taken_back_or_withheld_is_paid_to_its_partner():
    moved = deal("D1", "1000", partners=["P1"], created_on="2026-04-01", won_on="2026-06-15")
    taken_back = paid_in_q2(("P2", "commission", "100.00"), ("P2", "clawback", "-100.00"))
    withheld = paid_in_q2(("P2", "commission", "0.00"))
    for history in (taken_back, withheld):
        [line] = lines_of([moved], history=history)
        assert line.amount == Decimal("100.00") and "not paid before" in line.explanation


def test_a_paid_deal_reopened_projects_nothing_and_says_its_commission_was_paid():
    reopened = deal("D1", "1000", partners=["P1"], created_on="2026-04-01")
    prog = program(tiers=TIERS, payouts=PAYOUTS)
    result = compute_period(
        prog, [partner("P1")], [reopened], history=paid_in_q2(("P1", "commission", "100.00"))
    )
    [projection] = result.projections
    assert (projection.amount, projection.withheld) == (Decimal("0"), True)
    assert projection.explanation == "its commission was paid in 2026-Q2; winning it again pays nothing"
    fresh = compute_period(prog, [partner("P1")], [reopened])
    assert [p.amount for p in fresh.projections] == [Decimal("100.00")]
