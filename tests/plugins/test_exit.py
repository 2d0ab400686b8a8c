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


GOLD = """\
program: P
period: 2026-Q3
currency: USD
scoring:
  metrics:
    sourced_pipeline: {weight: 1, target: 1000}
tiers:
  - {name: Registered, min_score: 0, commission_rate: "0.05"}
  - {name: Gold, min_score: 50, commission_rate: "0.10"}
"""


def test_a_partner_that_has_left_is_never_promoted_and_its_account_says_exited(cosell_ledger):
    from cosell.testing import run_program

    people = [
        partner("P1", status="exited", exit_on="2026-06-30"),
        partner("P2", status="exiting", exit_on="2026-12-31"),  # leaves after the period: promoted as usual
    ]
    deals = [
        deal("D1", "5000", partners=["P1"], created_on="2026-07-02"),
        deal("D2", "5000", partners=["P2"], created_on="2026-07-02"),
    ]
    run = run_program(program(GOLD), people, deals, ledger=cosell_ledger)
    standings = {s.partner_id: s for s in cosell_ledger.standings("2026-Q3")}
    assert (
        standings["P1"].assigned == "Registered"
        and "left the program on 2026-06-30" in standings["P1"].reason
    )
    assert standings["P2"].assigned == "Gold"
    assert run.fields[("account", "P1")]["tier"] == "Exited (was Registered)"
    assert run.fields[("account", "P2")]["tier"] == "Gold"


def test_a_wind_down_or_window_reaching_past_the_calendar_still_computes():
    # exit_on 9999-12-20 + 60 days, a deal closed on the calendar's last day + a 30-day clawback window
    exiting = partner("P1", status="exiting", exit_on="9999-12-20")
    deals = [
        deal("D1", "1000", partners=["P1"], won_on="2026-08-30"),
        deal("D2", "1000", partners=["P1"], won_on="2026-08-01", refunded_on="9999-12-31"),
    ]
    prog = program(tiers=TIERS, wind_down_days=60, clawback_window_days=30)
    result = compute_period(prog, [exiting], deals)
    lines = sorted((ln.deal_id, ln.amount) for ln in result.all_lines() if ln.kind == "commission")
    assert lines == [
        ("D1", Decimal("100.00")),
        ("D2", Decimal("100.00")),
    ]  # D2's refund is not known by Q3's end


def test_days_after_stops_at_the_calendars_last_day():
    from datetime import date

    from cosell.periods import days_after

    assert days_after(date(2026, 1, 31), 30) == date(2026, 3, 2)
    assert days_after(date(9999, 12, 20), 60) == date.max
