from decimal import Decimal

from cosell.testing import compute_period, deal, partner, program

TIERS = [{"name": "Registered", "min_score": 0, "commission_rate": "0.10"}]
GUARD = {"max_discount_pct": 25, "min_margin_pct": 30, "margin_floor_factor": "0.5"}


def commission(d):
    result = compute_period(program(tiers=TIERS, guardrails=GUARD), [partner("P1")], [d])
    return result.all_lines()[0]


def test_deal_exactly_at_the_discount_limit_pays_in_full():
    line = commission(deal("D1", "10000", partners=["P1"], won_on="2026-08-01", discount_pct="25"))
    assert line.amount == Decimal("1000.00") and not line.withheld


def test_deal_above_the_discount_limit_gets_a_withheld_line_of_zero_with_the_reason():
    line = commission(deal("D1", "10000", partners=["P1"], won_on="2026-08-01", discount_pct="25.01"))
    assert line.amount == 0 and line.withheld
    assert "discount 25.01% is above the 25% limit" in line.explanation


def test_deal_under_the_margin_floor_pays_commission_times_the_factor_and_is_marked():
    line = commission(deal("D1", "10000", partners=["P1"], won_on="2026-08-01", margin_pct="29.99"))
    assert line.amount == Decimal("500.00")  # 10000 × 0.10 × 0.5
    assert "margin_floor" in line.tags and "margin 29.99% is below 30%" in line.explanation


def test_deal_exactly_at_the_margin_floor_pays_in_full():
    line = commission(deal("D1", "10000", partners=["P1"], won_on="2026-08-01", margin_pct="30"))
    assert line.amount == Decimal("1000.00") and "margin_floor" not in line.tags


def test_margin_floor_factor_of_zero_pays_nothing_under_the_floor_and_no_accelerator():
    prog = program(
        tiers=[{"name": "Registered", "min_score": 0, "commission_rate": "0.10", "quota": 10000}],
        guardrails={"min_margin_pct": 30, "margin_floor_factor": "0"},
        payouts={"accelerators": [{"attainment": "1.0", "multiplier": "1.5"}]},
    )
    under = deal("D1", "10000", partners=["P1"], won_on="2026-08-01", margin_pct="29")
    above = deal("D2", "4000", partners=["P1"], won_on="2026-08-02", margin_pct="30")
    lines = {
        (ln.kind, ln.deal_id): ln for ln in compute_period(prog, [partner("P1")], [under, above]).all_lines()
    }
    # D1: 10000 × 0.10 × 0 = 0.00, under the floor; D2: 4000 × 0.10 = 400.00 at the floor, paid in full.
    assert (
        lines["commission", "D1"].amount == Decimal("0.00")
        and "margin_floor" in lines["commission", "D1"].tags
    )
    assert "margin floor 0 " in lines["commission", "D1"].explanation
    assert lines["commission", "D2"].amount == Decimal("400.00")
    # Attainment 14000 ÷ 10000 = 1.4 reaches band 1.0: (1.5 − 1) × 400.00 (D2 only) = 200.00.
    assert lines["accelerator", None].amount == Decimal("200.00")
