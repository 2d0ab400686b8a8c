from decimal import Decimal
from types import MappingProxyType

from hypothesis import given, settings
from hypothesis import strategies as st

from cosell.money import floor_cents, round_cents
from cosell.plugins.mdf import cosell_payout_lines  # noqa: F401  (the rule under test)
from cosell.results import History, TierRecord
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


CLOSED_Q3 = frozenset({"2026-Q3"})


def q3_history(*lines, tier="Silver"):
    """The ledger after 2026-Q3 was run and closed: the partner held ``tier`` then."""
    record = TierRecord("2026-Q3", Decimal(0), tier, tier)
    return History(
        lines=MappingProxyType({"P1": tuple(_as_ledger(ln, "2026-Q3") for ln in lines)}),
        tiers=MappingProxyType({"P1": (record,)}),
        closed_periods=CLOSED_Q3,
    )


def test_a_claim_approved_in_a_closed_period_and_never_funded_is_funded_now_from_the_budget_left_then():
    funded_then = [mdf_claim("M1", "P1", "Launch", "7000", approved_on="2026-08-01")]
    q3 = mdf_lines(funded_then)  # 7,000 of the 10,000 funded, 3,500 paid
    late = mdf_claim("M2", "P1", "Launch", "5000", approved_on="2026-09-20")  # entered after the close
    lines = mdf_lines([*funded_then, late], period="2026-Q4", history=q3_history(*q3))
    assert [(ln.amount, ln.withheld) for ln in lines] == [(Decimal("1500.00"), False)]
    assert lines[0].explanation == (
        "MDF claim M2 (Launch) approved 2026-09-20 in closed period 2026-Q3, entered late: funded 3,000.00 now "
        "(of 5,000.00 claimed; the Silver budget left for 2026-Q3 was 3,000.00); 50% paid on approval = 1,500.00"
    )
    # funded once: the next period finds its approval line and only waits for its release
    q4 = History(
        lines=MappingProxyType({"P1": (*q3_history(*q3).lines_of("P1"), _as_ledger(lines[0], "2026-Q4"))}),
        closed_periods=frozenset({"2026-Q3", "2026-Q4"}),
    )
    assert mdf_lines([*funded_then, late], period="2027-Q1", history=q4) == []


def test_a_claim_of_an_earlier_period_that_is_not_closed_is_not_funded_late():
    late = mdf_claim("M2", "P1", "Launch", "5000", approved_on="2026-09-20")
    assert mdf_lines([late], period="2026-Q4", history=History()) == []


def test_a_late_claim_of_a_closed_period_the_partner_was_not_in_is_funded_from_the_tier_it_holds_now():
    late = mdf_claim("M2", "P1", "Launch", "5000", approved_on="2026-09-20")
    [line] = mdf_lines([late], period="2026-Q4", history=History(closed_periods=CLOSED_Q3))
    assert line.amount == Decimal("2500.00") and "entered late: funded 5,000.00 now" in line.explanation


@settings(max_examples=20, deadline=None)
@given(
    budget=st.sampled_from([None, "0", "4000", "2500.5", "10000"]),
    release=st.sampled_from(["0", "1", "0.5", "0.333"]),
    funded_then=st.sampled_from([None, "1000", "4000"]),
    claim=st.sampled_from(["4000", "0.01", "1234.567"]),
    already=st.booleans(),
)
def test_a_late_claim_is_funded_once_within_what_its_closed_period_left(
    budget, release, funded_then, claim, already
):
    tier = {"name": "Silver", "min_score": 0} | ({} if budget is None else {"mdf_budget": budget})
    prog = program(tiers=[tier], mdf={"release_on_approval": release, "release_pipeline_multiple": 3})
    budget_then = Decimal(budget or 0)
    claims = [mdf_claim("M1", "P1", "Launch", funded_then, approved_on="2026-07-10")] if funded_then else []
    q3 = [
        ln
        for ln in compute_period(prog, [partner("P1")], (), mdf_claims=claims).all_lines()
        if ln.kind == "mdf"
    ]
    late = mdf_claim("M2", "P1", "Launch", claim, approved_on="2026-09-30")
    if already:  # funded in 2026-Q3 itself (entered before the close): untouched
        claims.append(late)
        q3 = [
            ln
            for ln in compute_period(prog, [partner("P1")], (), mdf_claims=claims).all_lines()
            if ln.kind == "mdf"
        ]
    q4 = compute_period(
        program(tiers=[tier], mdf={"release_on_approval": release, "release_pipeline_multiple": 3}, period="2026-Q4"),
        [partner("P1")], (), mdf_claims=[*claims, late], history=q3_history(*q3),
    )  # fmt: skip
    lines = [ln for ln in q4.all_lines() if ln.kind == "mdf"]
    if already:
        assert lines == []
        return
    used = sum(Decimal(t.split(":", 1)[1]) for ln in q3 for t in ln.tags if t.startswith("mdf_funded:"))
    funded = min(round_cents(Decimal(claim)), max(floor_cents(budget_then - used), Decimal(0)))
    [line] = lines
    assert "approved 2026-09-30 in closed period 2026-Q3, entered late" in line.explanation
    assert f"mdf_funded:{funded if funded > 0 else Decimal(0)}" in line.tags
    assert used + max(funded, Decimal(0)) <= budget_then
    assert line.amount == (round_cents(funded * Decimal(release)) if funded > 0 else Decimal(0))
    assert line.withheld == (funded <= 0)


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
