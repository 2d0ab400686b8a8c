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
