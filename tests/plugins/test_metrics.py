"""The six SPEC metrics, each with hand-computed numbers over 2026-Q3 (2026-07-01 to 2026-09-30)."""

from decimal import Decimal

from cosell.testing import activity, compute_period, deal, partner, program

Q3 = program(
    qualified_stages=["Qualification", "Proposal"],
    activity_weights={"joint_demo": 2, "co_marketing_event": 3},
)


def metrics_of(deals=(), activities=(), pid="P1"):
    result = compute_period(Q3, [partner("P1"), partner("P2")], deals, activities)
    return next(s.metrics for s in result.standings if s.partner_id == pid)


def test_sourced_pipeline_sums_amount_times_share_of_deals_created_in_period_and_sourced():
    m = metrics_of(
        [
            deal("D1", "100000", partners=["P1"], created_on="2026-07-01"),
            deal(
                "D2",
                "50000",
                partners=[("P1", "sourced", "0.4"), ("P2", "cosell", "0.6")],
                created_on="2026-09-30",
            ),
            deal("D3", "70000", partners=[("P1", "cosell")], created_on="2026-08-01"),  # not sourced
            deal("D4", "90000", partners=["P1"], created_on="2026-06-30"),  # before the period
        ]
    )
    assert m["sourced_pipeline"] == Decimal("120000")  # 100000 + 50000 × 0.4


def test_qualified_opportunities_counts_qualified_stage_or_won_not_weighted_by_share():
    m = metrics_of(
        [
            deal("D1", partners=[("P1", "sourced", "0.1"), ("P2", "cosell")], stage="Qualification"),
            deal("D2", partners=["P1"], stage="Proposal"),
            deal("D3", partners=["P1"], won_on="2026-08-01"),
            deal("D4", partners=["P1"], stage="Discovery"),
            deal("D5", partners=["P1"], lost_on="2026-08-01"),
            deal("D6", partners=["P1"], stage="Proposal", created_on="2026-10-01"),
        ]
    )
    assert m["qualified_opportunities"] == 3


def test_won_revenue_sums_share_of_deals_won_in_period_any_role():
    m = metrics_of(
        [
            deal(
                "D1",
                "1000",
                partners=[("P1", "influenced", "0.25"), ("P2", "sourced", "0.75")],
                won_on="2026-07-15",
            ),
            deal("D2", "2000", partners=[("P1", "cosell")], created_on="2026-01-01", won_on="2026-09-30"),
            deal("D3", "4000", partners=["P1"], won_on="2026-10-01"),
        ]
    )
    assert m["won_revenue"] == Decimal("2250")  # 1000 × 0.25 + 2000


def test_win_rate_is_won_over_closed_in_period_and_zero_when_none_closed():
    m = metrics_of(
        [
            deal("D1", partners=["P1"], won_on="2026-07-15"),
            deal("D2", partners=["P1"], lost_on="2026-08-15"),
            deal("D3", partners=["P1"], lost_on="2026-09-15"),
            deal("D4", partners=["P1"], won_on="2026-06-15"),  # closed before the period
        ]
    )
    assert m["win_rate"] == Decimal(1) / Decimal(3)
    assert metrics_of([deal("D1", partners=["P1"])])["win_rate"] == 0


def test_joint_activities_sum_quantity_times_weight_other_types_weigh_one():
    m = metrics_of(
        activities=[
            activity("A1", "P1", "joint_demo", "2026-07-02", quantity=2),  # 4
            activity("A2", "P1", "co_marketing_event", "2026-08-02"),  # 3
            activity("A3", "P1", "training", "2026-09-30", quantity=3),  # 3
            activity("A4", "P1", "joint_demo", "2026-10-01"),  # outside
            activity("A5", "P2", "joint_demo", "2026-08-01"),  # other partner
        ]
    )
    assert m["joint_activities"] == Decimal(10)


def test_deal_velocity_is_median_days_and_mean_of_middle_two_when_even():
    odd = metrics_of(
        [
            deal("D1", partners=["P1"], created_on="2026-07-01", won_on="2026-07-11"),  # 10
            deal("D2", partners=["P1"], created_on="2026-06-01", won_on="2026-07-31"),  # 60
            deal("D3", partners=["P1"], created_on="2026-07-01", won_on="2026-07-31"),  # 30
        ]
    )
    assert odd["deal_velocity_days"] == 30
    even = metrics_of(
        [
            deal("D1", partners=["P1"], created_on="2026-07-01", won_on="2026-07-11"),  # 10
            deal("D2", partners=["P1"], created_on="2026-07-01", won_on="2026-07-16"),  # 15
        ]
    )
    assert even["deal_velocity_days"] == Decimal("12.5")


def test_deal_velocity_is_undefined_when_nothing_won():
    assert metrics_of([deal("D1", partners=["P1"], lost_on="2026-08-01")])["deal_velocity_days"] is None


def test_partner_named_twice_is_one_involvement_with_first_role_in_precedence():
    m = metrics_of([deal("D1", "1000", partners=[("P1", "influenced"), ("P1", "sourced")], stage="Proposal")])
    assert m["sourced_pipeline"] == Decimal(1000)  # sourced wins; share 1 as the only partner
    assert m["qualified_opportunities"] == 1  # counted once


def test_partners_without_a_share_split_what_the_given_shares_leave_equally():
    m2 = metrics_of(
        [deal("D1", "900", partners=[("P3", "sourced", "0.4"), ("P1", "sourced"), ("P2", "sourced")])],
        pid="P2",
    )
    assert m2["sourced_pipeline"] == Decimal(900) * Decimal("0.3")
