"""Signing bonus, baseline and milestones."""

from decimal import Decimal
from types import MappingProxyType

from cosell.results import History, LedgerLine
from cosell.testing import activity, compute_period, deal, partner, program

PAYOUTS = {
    "baseline_per_qualified_opportunity": 100,
    "signing_bonus": 1000,
    "milestones": [
        {"name": "first_win", "kind": "first_win", "amount": 2500},
        {"name": "demo_sprint", "kind": "activities", "type": "joint_demo", "count": 3, "amount": 500},
    ],
}


def lines(partners, deals=(), activities=(), history=None, **overrides):
    prog = program(payouts=PAYOUTS, qualified_stages=["Proposal"], **overrides)
    return compute_period(prog, partners, deals, activities, history=history).all_lines()


def kinds(found):
    return [(line.kind, line.amount) for line in found]


def test_signing_bonus_is_paid_in_the_period_that_holds_joined_on_only():
    assert kinds(lines([partner("P1", joined_on="2026-09-30")])) == [("signing_bonus", Decimal("1000.00"))]
    assert kinds(lines([partner("P1", joined_on="2026-06-30")])) == []


def bonus_paid(period="2026-Q2"):
    line = LedgerLine(period, "P1", "signing_bonus", Decimal("1000.00"), "signing bonus: ...")
    return MappingProxyType({"P1": (line,)})


def test_a_signing_bonus_paid_before_joined_on_was_corrected_into_this_period_is_not_paid_again():
    joined = [partner("P1", joined_on="2026-07-01")]
    assert kinds(lines(joined, history=History(lines=bonus_paid()))) == []


def test_a_partner_that_joined_in_a_closed_period_that_never_paid_it_gets_its_bonus_now_once():
    late = [partner("P1", joined_on="2026-05-20")]
    closed = frozenset({"2026-Q2"})
    found = lines(late, history=History(closed_periods=closed))
    assert kinds(found) == [("signing_bonus", Decimal("1000.00"))]
    assert (
        "joined the program on 2026-05-20, in closed period 2026-Q2, not paid before" in found[0].explanation
    )
    assert kinds(lines(late, history=History(closed_periods=closed, lines=bonus_paid()))) == []
    # a partner that joined before any closed period (before the program's ledger) gets none
    assert kinds(lines([partner("P1", joined_on="2025-05-20")], history=History(closed_periods=closed))) == []


def test_baseline_counts_qualified_opportunities_the_partner_sourced_not_weighted_by_share():
    deals = [
        deal("D1", partners=[("P1", "sourced", "0.2"), ("P2", "cosell")], stage="Proposal"),
        deal("D2", partners=["P1"], won_on="2026-08-01", stage="Closed Won"),
        deal("D3", partners=[("P1", "cosell")], stage="Proposal"),  # not sourced
        deal("D4", partners=["P1"], stage="Discovery"),  # not qualified
    ]
    found = [ln for ln in lines([partner("P1"), partner("P2")], deals) if ln.kind == "baseline"]
    assert kinds(found) == [("baseline", Decimal("200.00"))]
    assert "2 qualified opportunities sourced (D1, D2)" in found[0].explanation


def test_first_win_is_paid_once_ever_in_the_period_of_the_first_won_deal():
    deals = [
        deal("D1", partners=["P1"], won_on="2026-08-01", created_on="2026-07-01"),
        deal("D2", partners=[("P1", "influenced")], won_on="2026-07-15", created_on="2026-07-01"),
    ]
    found = [ln for ln in lines([partner("P1")], deals) if ln.kind == "milestone"]
    assert kinds(found) == [("milestone", Decimal("2500.00"))] and found[0].deal_id == "D2"
    paid = History(
        lines=MappingProxyType(
            {
                "P1": (
                    LedgerLine(
                        "2026-Q2",
                        "P1",
                        "milestone",
                        Decimal("2500.00"),
                        "x",
                        tags=frozenset({"milestone:first_win"}),
                    ),
                )
            }
        )
    )
    assert [ln for ln in lines([partner("P1")], deals, history=paid) if ln.kind == "milestone"] == []


def test_a_first_win_paid_under_another_milestone_name_is_not_paid_again():
    deals = [deal("D1", partners=["P1"], won_on="2026-08-01", created_on="2026-07-01")]
    earlier = LedgerLine(
        "2026-Q2", "P1", "milestone", Decimal("2500.00"), "milestone first_deal: ...", "D0",
        tags=frozenset({"milestone:first_deal"}),
    )  # fmt: skip
    paid = History(lines=MappingProxyType({"P1": (earlier,)}))
    assert [ln for ln in lines([partner("P1")], deals, history=paid) if ln.kind == "milestone"] == []
    # an activities milestone (no deal) is no first win
    sprint = LedgerLine(
        "2026-Q2", "P1", "milestone", Decimal("500.00"), "milestone demo_sprint: ...",
        tags=frozenset({"milestone:demo_sprint"}),
    )  # fmt: skip
    other = History(lines=MappingProxyType({"P1": (sprint,)}))
    found = [ln for ln in lines([partner("P1")], deals, history=other) if ln.kind == "milestone"]
    assert [ln.deal_id for ln in found] == ["D1"]


def test_a_first_win_inside_a_closed_period_that_never_paid_it_is_paid_now_once():
    deals = [deal("D1", partners=["P1"], won_on="2026-05-10", created_on="2026-04-01")]
    closed = History(closed_periods=frozenset({"2026-Q2"}))
    found = [ln for ln in lines([partner("P1")], deals, history=closed) if ln.kind == "milestone"]
    assert kinds(found) == [("milestone", Decimal("2500.00"))] and found[0].deal_id == "D1"
    assert (
        "first won deal, D1 on 2026-05-10, in closed period 2026-Q2, not paid before" in found[0].explanation
    )
    # a period that is not closed keeps its own first win (a rerun pays it there); none twice
    assert [ln for ln in lines([partner("P1")], deals) if ln.kind == "milestone"] == []


def test_a_win_refunded_inside_the_clawback_window_is_not_the_first_win():
    deals = [
        deal("D1", partners=["P1"], won_on="2026-07-10", created_on="2026-07-01", refunded_on="2026-07-20"),
        deal("D2", partners=["P1"], won_on="2026-08-01", created_on="2026-07-01"),
    ]
    found = [ln for ln in lines([partner("P1")], deals, clawback_window_days=30) if ln.kind == "milestone"]
    assert [ln.deal_id for ln in found] == ["D2"]
    # without a clawback window a refund changes nothing: D1 is the first win
    assert [ln.deal_id for ln in lines([partner("P1")], deals) if ln.kind == "milestone"] == ["D1"]


def test_first_win_of_an_earlier_period_is_not_paid_now():
    deals = [deal("D1", partners=["P1"], won_on="2026-06-30", created_on="2026-06-01")]
    assert [ln for ln in lines([partner("P1")], deals) if ln.kind == "milestone"] == []


def test_activities_milestone_pays_each_period_the_quantity_reaches_the_count():
    acts = [
        activity("A1", "P1", "joint_demo", "2026-07-01", 2),
        activity("A2", "P1", "joint_demo", "2026-09-30"),
    ]
    assert kinds(lines([partner("P1")], activities=acts)) == [("milestone", Decimal("500.00"))]
    short = [
        activity("A1", "P1", "joint_demo", "2026-07-01", 2),
        activity("A2", "P1", "joint_call", "2026-08-01"),
    ]
    assert kinds(lines([partner("P1")], activities=short)) == []


def test_partner_exiting_mid_period_earns_no_baseline_or_milestones_after_exit_on():
    exiting = partner("P1", status="exiting", exit_on="2026-08-15")
    deals = [
        deal("D1", partners=["P1"], stage="Proposal", created_on="2026-08-15"),  # on the exit day: counts
        deal("D2", partners=["P1"], stage="Proposal", created_on="2026-08-16"),  # after: does not
        deal("D3", partners=["P1"], won_on="2026-08-20", created_on="2026-07-01", stage="Closed Won"),
    ]
    acts = [
        activity("A1", "P1", "joint_demo", "2026-08-10", 2),
        activity("A2", "P1", "joint_demo", "2026-08-20"),
    ]
    found = lines([exiting], deals, acts)
    baseline = [ln for ln in found if ln.kind == "baseline"]
    assert kinds(baseline) == [("baseline", Decimal("200.00"))]  # D1 and D3 (created 07-01), not D2
    assert [
        ln for ln in found if ln.kind == "milestone"
    ] == []  # the first win and the 3rd demo come after exit
