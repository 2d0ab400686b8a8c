"""PartnerStatement: what a partner's lines imply (adjustments, MDF status, the next tier), and the HTML
page that renders it. Numbers are the bundled example's (examples/program.yaml), worked by hand."""

import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

from cosell.program import load_program
from cosell.results import LedgerLine, TierException
from cosell.statements import PartnerStatement, grouped, period_earnings
from cosell.statements.facts import decode_partner, encode_partner, partner_record
from cosell.statements.html import BAR_WIDTH, render_html
from cosell.statements.model import adjustments_of

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = load_program(ROOT / "examples" / "program.yaml").program
D = Decimal


def line(
    kind, amount, explanation="", deal_id=None, *, uncapped=False, withheld=False, tags=(), period="2026-Q3"
):
    return LedgerLine(
        period,
        "P002",
        kind,
        D(amount),
        explanation or f"{kind} line",
        deal_id,
        withheld,
        uncapped,
        frozenset(tags),
    )


def approval(claim, funded, paid, campaign="NA Data Summit", approved="2026-07-18", period="2026-Q3"):
    tags = {
        f"mdf_claim:{claim}",
        "mdf_stage:approval",
        f"mdf_funded:{funded}",
        f"mdf_campaign:{campaign}",
        f"mdf_approved:{approved}",
    }
    return line("mdf", paid, f"MDF claim {claim} approved", uncapped=True, tags=tags, period=period)


def release(claim, amount, period="2026-Q3"):
    tags = {f"mdf_claim:{claim}", "mdf_stage:release"}
    return line("mdf", amount, f"MDF claim {claim} released", uncapped=True, tags=tags, period=period)


# P002 in 2026-Q3 of the two-period example run (Q2 run and closed first, so D2005's refund claws back).
P002_LINES = (
    line("baseline", "600.00"),
    line("commission", "38400.00", deal_id="D2001"),
    line("commission", "5400.00", deal_id="D2002", tags={"margin_floor"}),
    line("commission", "0.00", deal_id="D2004", withheld=True),
    line("accelerator", "19200.00"),
    line("clawback", "-8400.00", deal_id="D2005", uncapped=True),
    approval("M001", "12000.00", "6000.00"),
    release("M001", "6000.00"),
    line("cap", "-13600.00", "cap: lines subject to the cap add up to 63,600.00"),
    line("budget", "-1578.95", "budget: this partner's 50,000.00 is scaled to 48,421.05"),
)
P002_METRICS = {
    "sourced_pipeline": D(933000),
    "qualified_opportunities": D(6),
    "won_revenue": D(505000),
    "win_rate": D(1),
    "joint_activities": D(10),
    "deal_velocity_days": D(72),
}


def statement(
    lines=P002_LINES,
    *,
    program=PROGRAM,
    metrics=None,
    score="90.33",
    eligible="Gold",
    assigned="Gold",
):
    return PartnerStatement.build(
        "P002",
        "2026-Q3",
        score=D(score),
        eligible=eligible,
        assigned=assigned,
        reason="score 90.33 makes it eligible for Gold (min 70); stays Gold",
        metrics=P002_METRICS if metrics is None else metrics,
        lines=lines,
        program=program,
    )


def page(*statements, program=PROGRAM):
    return render_html(list(statements), period="2026-Q3", status="open", program=program, definitions={})


def test_lines_are_grouped_in_spec_order_plugin_kinds_before_the_cap_and_budget_and_mdf_last():
    shuffled = [line("budget", "-1"), line("mdf", "5", uncapped=True), line("nps_bonus", "10"), line("cap", "-2"),
                line("clawback", "-3", uncapped=True), line("commission", "7"), line("signing_bonus", "1000")]  # fmt: skip
    assert [g.kind for g in grouped(shuffled)] == [
        "signing_bonus", "commission", "clawback", "nps_bonus", "cap", "budget", "mdf",
    ]  # fmt: skip


def test_cap_then_budget_take_the_capped_subtotal_to_period_earnings_and_clawbacks_stay_outside():
    adj = statement().adjustments
    # 600 + 38,400 + 5,400 + 0 + 19,200 = 63,600 subject to the cap; the clawback of −8,400 is outside it
    assert adj.capped_subtotal == D("63600.00") and adj.outside_caps == D("-8400.00")
    assert adj.subtotal == D("55200.00")
    assert adj.cap_text() == "capped from 63,600.00 to 50,000.00"
    assert adj.budget_text() == "scaled by the program budget from 50,000.00 to 48,421.05"
    # 55,200 − 13,600 − 1,578.95 = 40,021.05: every line but MDF, as SPEC "Period earnings" says
    assert adj.earnings == D("40021.05") == period_earnings(P002_LINES)


def test_the_subtotal_before_the_cap_and_budget_leaves_their_lines_out_and_holds_an_approved_adjustment():
    # 63,600.00 subject to the cap (capped to 50,000.00, scaled to 48,421.05) and an approved adjustment of
    # 500.00, which neither the cap nor the budget touches: the subtotal is 64,100.00, the cap's −13,600.00
    # and the budget's −1,578.95 are steps below it, and period earnings are 48,921.05
    lines = (
        line("commission", "63600.00", deal_id="D2001"),
        line("adjustment", "500.00", "adjustment 7: event rebate", uncapped=True),
        line("cap", "-13600.00"),
        line("budget", "-1578.95"),
    )
    adj = statement(lines=lines).adjustments
    assert adj.subtotal == D("64100.00") and adj.outside_caps == D("500.00")
    assert adj.cap == D("-13600.00") and adj.budget == D("-1578.95")
    assert adj.budget_text() == "scaled by the program budget from 50,000.00 to 48,421.05"
    assert adj.earnings == D("48921.05") == period_earnings(lines)
    # an "Approved adjustment" line above it: the subtotal is named for the steps it comes before
    html = page(statement(lines=lines))
    assert "Subtotal before the cap and budget" in html and "before adjustments" not in html


def test_a_partner_under_the_cap_and_budget_says_so_plainly():
    adj = statement(lines=(line("commission", "3200.00", deal_id="D3001"),)).adjustments
    assert adj.cap is None and adj.budget is None and adj.earnings == D("3200.00")
    assert adj.cap_text() == "3,200.00 is within the per-partner cap of 50,000.00"
    assert adj.budget_text() == "not scaled: the program stayed within its budget"


def test_a_partner_without_a_budget_line_in_a_program_the_budget_scaled_says_so_and_why():
    # the run recorded that the budget scaled the program by 20,000 ÷ 67,550 = 0.2960769…
    scaled = {"program_budget": D(20000), "budget_scaled": True, "budget_factor": D(20000) / D(67550)}
    clawback = line("clawback", "-8400.00", deal_id="D2005", uncapped=True)
    assert adjustments_of([clawback], **scaled).budget_text() == (
        "the program budget scaled the program by 0.296077; none of your lines this period were subject to it"
    )
    withheld = line("commission", "0.00", deal_id="D2004", withheld=True)
    assert adjustments_of([withheld, clawback], **scaled).budget_text() == (
        "the program budget scaled the program by 0.296077; your lines subject to it add up to 0.00, "
        "and it scales only a positive total"
    )
    # a cent scaled by 0.296077 is 0.296… of a cent: the leftover cent can bring it back to 0.01
    cent = line("baseline", "0.01")
    assert adjustments_of([cent], **scaled).budget_text() == (
        "the program budget scaled the program by 0.296077; your 0.01 subject to it is unchanged once "
        "rounded to cents"
    )
    # recorded as not scaled, or not recorded (a run stored before): the program stayed within its budget
    for recorded in (False, None):
        adj = adjustments_of([clawback], program_budget=D(20000), budget_scaled=recorded)
        assert adj.budget_text() == "not scaled: the program stayed within its budget"


def test_next_tier_needs_its_min_score_and_each_unmet_requirement():
    # P001: score 88.00, Silver; Gold needs min_score 70 (met) and won_revenue ≥ 250,000 (174,960 reached)
    s = statement(
        score="88.00", eligible="Silver", assigned="Silver", metrics={"won_revenue": D("174960.00")}
    )
    (goal,) = s.goals
    assert goal.tier == "Gold" and not s.top_tier
    assert goal.needs() == [
        ("score ≥ 70: met (88.00)", True),
        ("won_revenue ≥ 250,000: 174,960 now, 75,040 to go", False),
    ]


def test_a_tier_held_under_the_demotion_grace_shows_what_it_needs_to_be_eligible_again():
    # P001 in 2026-Q2: score 0.00, eligible Registered, keeps Silver (the CRM's tier) for one grace period
    s = statement(score="0.00", eligible="Registered", assigned="Silver", metrics={"won_revenue": D(0)})
    keep, nxt = s.goals
    assert keep.keep and keep.tier == "Silver"
    assert keep.needs() == [("score ≥ 40: 0.00 now, 40 points to go", False)]
    assert nxt.tier == "Gold" and len(nxt.needs()) == 2


def test_a_tier_held_by_a_tier_exception_says_so_and_not_that_it_is_held_under_the_grace():
    # P006 in 2026-Q3 under tier exception 1: score 51.14 makes it eligible for Silver; held at Gold,
    # which it never held before, until 2026-Q4
    exception = TierException(1, "P006", "Gold", "2026-Q4", "launch partner", "ann", "carol")
    record = partner_record(PROGRAM, D("51.14"), (), "Silver", "Gold", tier_exception=exception)
    s = PartnerStatement.build(
        "P006",
        "2026-Q3",
        score=D("51.14"),
        eligible="Silver",
        assigned="Gold",
        reason="held at Gold by tier exception 1 until 2026-Q4",
        metrics={"won_revenue": D("131280.00")},
        lines=(),
        record=record,
    )
    (keep,) = s.goals  # Gold is the highest tier: there is no next one
    assert keep.keep and keep.heading() == "To be eligible for Gold (held by exception until 2026-Q4)"
    assert keep.needs() == [
        ("score ≥ 70: 51.14 now, 18.86 points to go", False),
        ("won_revenue ≥ 250,000: 131,280 now, 118,720 to go", False),
    ]
    html = page(s)
    assert "held by exception until 2026-Q4" in html and "demotion grace" not in html


def tailspin(record):
    """P004 in 2026-Q3: Silver by its score, exiting on 2026-08-15."""
    return PartnerStatement.build(
        "P004",
        "2026-Q3",
        score=D("47.44"),
        eligible="Silver",
        assigned="Silver",
        reason="score 47.44 makes it eligible for Silver (min 40); left the program on 2026-08-15",
        metrics={"won_revenue": D("247650.00")},
        lines=(),
        record=record,
    )


def test_a_partner_that_has_left_is_exited_with_no_benefits_and_no_next_tier():
    record = partner_record(PROGRAM, D("47.44"), (), "Silver", "Silver", left_on=date(2026, 8, 15))
    assert record.goals == () and record.benefits == () and not record.top_tier
    s = tailspin(decode_partner(encode_partner(record)))
    assert s.left_on == date(2026, 8, 15) and s.tier_shown == "Exited (was Silver)"
    assert s.goals == () and s.benefits == () and not s.top_tier
    html = page(s)
    assert "Left the program on 2026-08-15: no tier benefits, no next tier." in html
    assert "Next tier" not in html and "What Silver brings" not in html and "What Gold adds" not in html


def test_a_partner_record_stored_before_exits_were_recorded_reads_as_the_tier_it_held():
    # a run stored before cosell recorded exits has no "left_on": the statement renders as it did
    doc = json.loads(encode_partner(partner_record(PROGRAM, D("47.44"), (), "Silver", "Silver")))
    del doc["left_on"]
    s = tailspin(decode_partner(json.dumps(doc)))
    assert s.left_on is None and s.tier_shown == "Silver"
    assert (
        [g.tier for g in s.goals] == ["Gold"] and s.benefits and s.benefits[-1] == "quarterly business review"
    )
    assert "Next tier: Gold" in page(s)


def test_the_highest_tier_has_no_next_tier():
    s = statement()
    assert s.goals == () and s.top_tier


def test_without_the_program_there_are_no_targets_and_no_next_tier():
    s = statement(program=None)
    assert not s.targets_known and s.parts == () and s.goals is None
    assert dict(s.other_metrics)["won_revenue"] == D(505000)
    assert s.adjustments.earnings == D("40021.05")  # money does not depend on the program


def test_score_parts_from_the_program_reproduce_the_stored_score():
    s = statement()
    fractions = {p.metric: p.fraction for p in s.parts}
    # 6 of 10 qualified opportunities = 0.6; velocity 72 days against ≤ 60 = 60 ÷ 72 = 0.8333…
    assert fractions["qualified_opportunities"] == D("0.6")
    assert round(fractions["deal_velocity_days"], 4) == D("0.8333")
    # 100 × (3 + 1.2 + 2 + 2 + 0.8333…) ÷ 10 = 90.33, as the ledger holds it: no warning
    assert s.score_note is None
    changed = statement(score="75.00")
    assert changed.score_note is not None and "90.33" in changed.score_note


def test_html_escapes_every_explanation_and_tier_reason():
    hostile = "Acme <Beta> & \"Co\" (D9) won: <script>alert('x')</script>"
    html = page(statement(lines=(line("commission", "10.00", hostile, "D9"),)))
    assert (
        "Acme &lt;Beta&gt; &amp; &quot;Co&quot; (D9) won: &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"
        in html
    )
    assert "<script" not in html and "<Beta>" not in html


def test_html_bar_width_is_the_fraction_of_the_bar_width():
    html = page(statement())
    bars = dict(
        re.findall(r'aria-label="(\w+): [^"]*".*?<rect class="fill" x="0" y="2" width="([\d.]+)"', html)
    )
    assert D(bars["qualified_opportunities"]) == D("0.6") * BAR_WIDTH
    assert D(bars["sourced_pipeline"]) == BAR_WIDTH  # 933,000 of 500,000: capped at the target
    assert D(bars["deal_velocity_days"]) == (D(60) / D(72) * BAR_WIDTH).quantize(D("0.01"))


def test_html_money_has_thousands_separators_two_places_and_the_program_currency():
    html = page(statement())
    assert "40,021.05 USD" in html and "-13,600.00" in html and "38,400.00" in html


def test_html_without_the_program_says_targets_are_unavailable_and_has_no_bars():
    html = page(statement(program=None), program=None)
    assert "Targets are unavailable" in html and '<svg class="bar"' not in html
    assert "40,021.05" in html


def test_html_is_self_contained():
    html = page(statement())
    assert "http://" not in html and "https://" not in html
    assert "<link" not in html and "<script" not in html and "<img" not in html
    assert date(2026, 7, 1).isoformat() in html
