from decimal import Decimal

from cosell.testing import compute_period, deal, partner, program

TIERS = [{"name": "Registered", "min_score": 0, "commission_rate": "0.10"}]


def commissions(deals, **extra):
    exiting = partner("P1", status="exiting", exit_on="2026-07-31")
    result = compute_period(program(tiers=TIERS, wind_down_days=30, **extra), [exiting], deals)
    return [(ln.deal_id, ln.amount, ln.withheld) for ln in result.all_lines() if ln.kind == "commission"]


def test_exiting_partner_earns_commission_up_to_wind_down_days_after_exit_inclusive():
    deals = [
        deal("D1", "1000", partners=["P1"], won_on="2026-08-30"),  # exit + 30 days: inside
        deal("D2", "1000", partners=["P1"], won_on="2026-08-31"),  # one day past
    ]
    assert commissions(deals) == [("D1", Decimal("100.00"), False), ("D2", Decimal("0.00"), True)]


def test_open_deals_of_an_exiting_partner_project_zero_past_the_wind_down():
    exiting = partner("P1", status="exiting", exit_on="2026-07-31")
    result = compute_period(
        program(tiers=TIERS, wind_down_days=30), [exiting], [deal("D1", "1000", partners=["P1"])]
    )
    [projection] = result.projections
    assert projection.amount == 0 and projection.withheld  # won on 2026-09-30 would be past 2026-08-30
