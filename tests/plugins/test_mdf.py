from decimal import Decimal
from types import MappingProxyType

from cosell.plugins.mdf import cosell_payout_lines  # noqa: F401  (the rule under test)
from cosell.results import History
from cosell.testing import compute_period, deal, mdf_claim, partner, program

TIERS = [{"name": "Silver", "min_score": 0, "mdf_budget": 10000}]
MDF = {"release_on_approval": "0.5", "release_pipeline_multiple": 3}


def mdf_lines(claims, deals=(), period="2026-Q3", history=None, who=None):
    prog = program(tiers=TIERS, mdf=MDF, period=period)
    result = compute_period(prog, [who or partner("P1")], deals, mdf_claims=claims, history=history)
    return [line for line in result.all_lines() if line.kind == "mdf"]


def test_claims_are_funded_in_approval_order_up_to_the_tier_budget_the_last_in_part():
    claims = [
        mdf_claim("M2", "P1", "Launch", "7000", approved_on="2026-07-10"),
        mdf_claim("M1", "P1", "Launch", "6000", approved_on="2026-07-10"),  # same day: id order, M1 first
        mdf_claim("M3", "P1", "Launch", "2000", approved_on="2026-07-20"),  # budget spent
        mdf_claim("M4", "P1", "Launch", "9000", status="submitted"),
    ]
    lines = mdf_lines(claims)
    assert [(ln.amount, ln.withheld) for ln in lines] == [
        (Decimal("3000.00"), False),  # M1: 6,000 funded, half on approval
        (Decimal("2000.00"), False),  # M2: 4,000 of 7,000 funded (budget 10,000), half on approval
        (Decimal("0.00"), True),  # M3: not funded
    ]
    assert "funded 4,000.00 (of 7,000.00 claimed" in lines[1].explanation


def test_the_rest_is_released_in_the_approval_period_when_the_campaign_pipeline_is_there_already():
    claims = [mdf_claim("M1", "P1", "Launch", "1000", approved_on="2026-07-10")]
    deals = [
        deal("D1", "3000", partners=["P1"], campaign="Launch", created_on="2026-07-10")
    ]  # exactly 3 × 1,000
    assert [ln.amount for ln in mdf_lines(claims, deals)] == [Decimal("500.00"), Decimal("500.00")]


def test_release_two_periods_after_approval_uses_the_amount_funded_then():
    claims = [mdf_claim("M1", "P1", "Launch", "12000", approved_on="2026-07-10")]
    [approval] = mdf_lines(claims)  # Q3: 10,000 funded (budget), 5,000 paid
    assert approval.amount == Decimal("5000.00")
    ledger_line = _as_ledger(approval, "2026-Q3")
    history = History(lines=MappingProxyType({"P1": (ledger_line,)}))
    # Q4: pipeline 20,000 < 30,000 → nothing yet
    q4_deals = [deal("D1", "20000", partners=["P1"], campaign="Launch", created_on="2026-11-01")]
    assert mdf_lines(claims, q4_deals, period="2026-Q4", history=history) == []
    # 2027-Q1: 20,000 + 10,000 = 30,000 reached → the remaining 5,000
    q1_deals = [*q4_deals, deal("D2", "10000", partners=["P1"], campaign="Launch", created_on="2027-01-05")]
    [release] = mdf_lines(claims, q1_deals, period="2027-Q1", history=history)
    assert (
        release.amount == Decimal("5000.00") and "the remaining 5,000.00 is released" in release.explanation
    )


def test_pipeline_created_before_approval_or_in_another_campaign_does_not_count():
    claims = [mdf_claim("M1", "P1", "Launch", "1000", approved_on="2026-07-10")]
    deals = [
        deal("D1", "3000", partners=["P1"], campaign="Launch", created_on="2026-07-09"),
        deal("D2", "3000", partners=["P1"], campaign="Other", created_on="2026-07-11"),
        deal(
            "D3",
            "5000",
            partners=[("P1", "cosell", "0.5"), ("P9", "sourced")],
            campaign="Launch",
            created_on="2026-07-11",
        ),
    ]
    assert [ln.amount for ln in mdf_lines(claims, deals)] == [Decimal("500.00")]  # 2,500 by share < 3,000


def test_an_exiting_partner_has_its_unreleased_mdf_paid_in_the_exit_period():
    claims = [mdf_claim("M1", "P1", "Launch", "1000", approved_on="2026-07-10")]
    exiting = partner("P1", status="exiting", exit_on="2026-08-31")
    lines = mdf_lines(claims, who=exiting)
    assert [ln.amount for ln in lines] == [Decimal("500.00"), Decimal("500.00")]
    assert "the partner exits on 2026-08-31" in lines[1].explanation


def test_a_claim_funded_before_whose_approved_on_moved_into_this_period_is_not_funded_again():
    claims = [mdf_claim("M1", "P1", "Launch", "5000", approved_on="2026-09-20")]
    [approval] = mdf_lines(claims)  # Q3: 5,000 funded, 2,500 paid
    history = History(lines=MappingProxyType({"P1": (_as_ledger(approval, "2026-Q3"),)}))
    moved = [mdf_claim("M1", "P1", "Launch", "5000", approved_on="2026-10-02")]
    deals = [deal("D1", "20000", partners=["P1"], campaign="Launch", created_on="2026-10-05")]
    lines = mdf_lines(moved, deals, period="2026-Q4", history=history)
    # only the release of the 2,500 left, by the pipeline since the approval the ledger recorded
    assert [ln.amount for ln in lines] == [Decimal("2500.00")]
    assert "since 2026-09-20" in lines[0].explanation
    assert sum(ln.amount for ln in (approval, *lines)) == Decimal("5000.00")


def test_a_budget_with_a_fraction_of_a_cent_funds_up_to_the_cent_below_it():
    prog = program(
        tiers=[{"name": "Silver", "min_score": 0, "mdf_budget": "100.005"}],
        mdf={"release_on_approval": "1", "release_pipeline_multiple": 3},
    )
    claims = [mdf_claim("M1", "P1", "Launch", "200", approved_on="2026-07-10")]
    result = compute_period(prog, [partner("P1")], (), mdf_claims=claims)
    [line] = [ln for ln in result.all_lines() if ln.kind == "mdf"]
    assert line.amount == Decimal("100.00") and "funded 100.00 (of 200.00 claimed" in line.explanation


def test_an_exit_entered_after_its_period_was_run_pays_the_unreleased_mdf_in_the_next_run():
    claims = [mdf_claim("M1", "P1", "Launch", "5000", approved_on="2026-07-10")]
    [approval] = mdf_lines(claims)  # Q3, the partner still active: 2,500 paid, 2,500 pending
    history = History(lines=MappingProxyType({"P1": (_as_ledger(approval, "2026-Q3"),)}))
    exited = partner("P1", status="exited", exit_on="2026-09-20")
    [release] = mdf_lines(claims, period="2026-Q4", history=history, who=exited)
    assert release.amount == Decimal("2500.00")
    assert "the partner exited on 2026-09-20, so the unreleased 2,500.00 is paid now" in release.explanation
    # released once: a later run finds the release in the ledger
    paid = (_as_ledger(approval, "2026-Q3"), _as_ledger(release, "2026-Q4"))
    later = History(lines=MappingProxyType({"P1": paid}))
    assert mdf_lines(claims, period="2027-Q1", history=later, who=exited) == []


def _as_ledger(line, period):
    from cosell.results import LedgerLine

    return LedgerLine(
        period,
        line.partner_id,
        line.kind,
        line.amount,
        line.explanation,
        line.deal_id,
        line.withheld,
        line.uncapped,
        line.tags,
    )
