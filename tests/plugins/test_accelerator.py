from decimal import Decimal

from cosell.testing import compute_period, deal, partner, program

TIERS = [{"name": "Silver", "min_score": 0, "commission_rate": "0.10", "quota": 100000}]
PAYOUTS = {
    "accelerators": [{"attainment": "1.0", "multiplier": "1.25"}, {"attainment": "1.5", "multiplier": "1.5"}]
}
GUARD = {"min_margin_pct": 30, "margin_floor_factor": "0.5"}


def accelerator(deals, tiers=TIERS):
    result = compute_period(program(tiers=tiers, payouts=PAYOUTS, guardrails=GUARD), [partner("P1")], deals)
    return [line for line in result.all_lines() if line.kind == "accelerator"]


def test_attainment_exactly_on_a_band_reaches_it():
    [line] = accelerator([deal("D1", "100000", partners=["P1"], won_on="2026-08-01")])
    assert line.amount == Decimal("2500.00")  # (1.25 − 1) × commission 10,000


def test_highest_band_reached_pays():
    [line] = accelerator([deal("D1", "150000", partners=["P1"], won_on="2026-08-01")])
    assert line.amount == Decimal("7500.00")  # (1.5 − 1) × 15,000


def test_below_the_first_band_pays_nothing():
    assert accelerator([deal("D1", "99999.99", partners=["P1"], won_on="2026-08-01")]) == []


def test_deals_under_the_margin_floor_are_left_out_of_the_accelerator_base():
    deals = [
        deal("D1", "60000", partners=["P1"], won_on="2026-08-01"),
        deal("D2", "60000", partners=["P1"], won_on="2026-08-02", margin_pct="20"),
    ]
    [line] = accelerator(deals)  # attainment 1.2 counts both deals' revenue
    assert line.amount == Decimal("1500.00")  # 0.25 × commission of D1 only (6,000)
    assert "1 deal(s) under the margin floor left out" in line.explanation


def test_no_accelerator_when_the_tier_has_no_quota():
    tiers = [{"name": "Silver", "min_score": 0, "commission_rate": "0.10"}]
    assert accelerator([deal("D1", "900000", partners=["P1"], won_on="2026-08-01")], tiers) == []


def test_attainment_uses_won_revenue_by_share_across_roles():
    deals = [deal("D1", "200000", partners=[("P1", "cosell", "0.5"), ("P2", "sourced")], won_on="2026-08-01")]
    result = compute_period(
        program(tiers=TIERS, payouts={**PAYOUTS, "role_multipliers": {"cosell": "0.5"}}),
        [partner("P1"), partner("P2")],
        deals,
    )
    [line] = [ln for ln in result.all_lines() if ln.kind == "accelerator" and ln.partner_id == "P1"]
    # won revenue 100,000 → attainment 1.0; commission 200,000 × 0.5 × 0.5 × 0.10 = 5,000; × 0.25
    assert line.amount == Decimal("1250.00")


def test_an_attainment_just_short_of_a_band_is_not_shown_rounded_up_to_it():
    [line] = accelerator([deal("D1", "149999.99", partners=["P1"], won_on="2026-08-01")])
    assert line.amount == Decimal("3750.00")  # band 1.0: (1.25 − 1) × 14,999.999 → 3,750.00
    assert "attainment 1.4999, band 1 reached" in line.explanation  # 1.4999999, not "1.5000"
    [reached] = accelerator([deal("D1", "123456", partners=["P1"], won_on="2026-08-01")])
    assert "attainment 1.2346, band 1 reached" in reached.explanation  # rounded where no band is crossed
