"""`cosell statement --format html` and `cosell explain` over the bundled example: the page a partner reads."""

import re
import sqlite3

from example_runs import run, two_periods
from invoke import cosell


def html(*extra):
    result = cosell("statement", "--period", "2026-Q3", "--format", "html", *extra)
    assert result.exit_code == 0, result.output
    return result.output


def section(page, partner_id):
    start = page.index(f'id="partner-{partner_id}"')
    end = page.find("<section", start)
    return page[start : end if end != -1 else len(page)]


def edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_html_is_one_self_contained_page_with_a_section_per_partner(work):
    run()
    page = html("--program", "program.yaml")
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "<link" not in page and "<script" not in page and "<img" not in page
    assert "http://" not in page and "https://" not in page
    assert [f"P00{i}" for i in range(1, 7)] == re.findall(
        r'<section class="partner" id="partner-(\w+)"', page
    )
    assert "Global Partner Program" in page and "amounts in USD" in page


def test_html_shows_every_line_explanation_escaped(work):
    edit(work / "data" / "deals.csv", "Fabrikam - First order", 'Fabrikam <First> & "order"')
    run()
    page = html("--program", "program.yaml", "--partner", "P003")
    assert (
        "Fabrikam &lt;First&gt; &amp; &quot;order&quot; won 2026-09-12: USD 40,000.00 × share 1 × "
        "sourced 1 × Silver rate 8% = 3,200.00" in page
    )
    assert "<First>" not in page
    # the tier reason's "<" is escaped too
    p001 = html("--program", "program.yaml", "--partner", "P001")
    assert "Gold needs won_revenue 174,960 &lt; 250,000" in p001


def test_html_shows_the_cap_and_budget_plainly_with_their_explanations(work):
    two_periods()
    p002 = section(html("--program", "program.yaml"), "P002")
    # 600 + 38,400 + 5,400 + 0 + 19,200 = 63,600 under the cap; the −8,400 clawback is outside it
    assert "Subtotal before the cap and budget" in p002 and "55,200.00" in p002
    assert "63,600.00 subject to the cap; -8,400.00 outside it" in p002
    assert "capped from 63,600.00 to 50,000.00" in p002 and "-13,600.00" in p002
    assert "cap: lines subject to the cap add up to 63,600.00, above the per-partner cap of 50,000.00" in p002
    assert "scaled by the program budget from 50,000.00 to 48,421.05" in p002 and "-1,578.95" in p002
    assert "scaled by 0.968421; this partner&#x27;s 50,000.00 is scaled to 48,421.05" in p002
    assert "118,750.00" not in p002 and "115,000.00" not in p002  # the program's total and budget
    assert "40,021.05 USD" in p002  # 55,200 − 13,600 − 1,578.95, MDF left out
    assert "clawback: Contoso - Payroll was refunded on 2026-07-10" in p002


def test_html_groups_lines_in_spec_order(work):
    two_periods()
    p002 = section(html("--program", "program.yaml"), "P002")
    order = ["Baseline", "Commission", "Accelerator", "Clawbacks", "Subtotal before the cap and budget",
             "Per-partner cap", "Program budget", "Period earnings", "Market-development funds"]  # fmt: skip
    lines = p002[p002.index("<h3>Payout lines</h3>") :]
    positions = [lines.index(title) for title in order]
    assert positions == sorted(positions)


def test_html_shows_what_the_next_tier_needs(work):
    run()
    p001 = section(html("--program", "program.yaml"), "P001")
    assert "Next tier: Gold" in p001
    assert "score ≥ 70: met (88.00)" in p001
    assert "won_revenue ≥ 250,000: 174,960 now, 75,040 to go" in p001
    assert "Gold</b> is the program's highest tier" in section(html("--program", "program.yaml"), "P002")


def test_html_bars_are_as_wide_as_the_fraction_of_the_target_reached(work):
    run()
    p001 = section(html("--program", "program.yaml"), "P001")
    widths = dict(re.findall(r'aria-label="(\w+): [^"]*"[^>]*>.*?class="fill"[^>]*width="([\d.]+)"', p001))
    # 4 qualified opportunities of the 10 targeted: 40% of the 240 px bar
    assert widths["qualified_opportunities"] == "96.00"
    # 515,160 of 500,000 sourced pipeline, win rate 0.5 of 0.4, 8 of 8 activities, 49 days of ≤ 60: full bars
    assert {
        widths[m] for m in ("sourced_pipeline", "win_rate", "joint_activities", "deal_velocity_days")
    } == {"240.00"}
    assert "won_revenue" not in widths  # not scored: a value, no bar
    assert "score = 100 × (3 × 1 + 2 × 0.4 + 2 × 1 + 2 × 1 + 1 × 1) ÷ 10 = 88.00" in p001


def test_html_shows_an_mdf_claim_still_waiting_for_its_pipeline_as_pending(work):
    # Without a campaign on P001's deals, M003 (funded 8,000, 4,000 paid on approval) waits for 24,000
    edit(work / "data" / "deals.csv", ",EMEA Cloud Push,", ",,")
    run()
    p001 = section(html("--program", "program.yaml"), "P001")
    assert "pending</b> 4,000.00" in p001
    assert "deals of campaign EMEA Cloud Push created on or after 2026-07-09 reaches 24,000.00" in p001
    assert "Paid this period <b>4,000.00 USD</b>" in p001


def test_html_without_program_renders_the_targets_and_goals_the_run_recorded(work):
    run()
    page = html()
    assert page == html("--program", "program.yaml")
    assert "<svg" in page and "Next tier: Gold" in section(page, "P001")


def forget_statement_data(work):
    """Make the ledger's 2026-Q3 look as a run before the ledger recorded statement data left it."""
    with sqlite3.connect(work / "cosell.db") as conn:
        conn.execute("DELETE FROM cosell_statement_runs")
        conn.execute("DELETE FROM cosell_statement_partners")


def test_html_of_a_period_run_before_statement_data_was_recorded_says_targets_are_unavailable(work):
    run()
    forget_statement_data(work)
    page = html("--program", "program.yaml")  # the program file is not taken for the targets
    assert "Targets are unavailable" in page and '<svg class="bar"' not in page
    assert "What the next tier needs: not recorded." in page
    p002 = section(page, "P002")  # MDF lines still show, as lines of a kind outside period earnings
    assert "<h3>Market-development funds</h3>" in p002 and "MDF claim M001 (NA Data Summit) approved" in p002
    assert "174,960.00" in section(page, "P001")  # won revenue, a value without a target
    # a single period: D2005 (won in Q2, refunded in Q3) is no first win, so D2001 is: +2,500 under the cap
    assert "capped from 66,100.00 to 50,000.00" in p002 and "48,421.05" in p002
    assert "174,960.00" in section(page, "P001")  # won revenue, a value without a target
    p002 = section(page, "P002")
    # a single period: D2005 (won in Q2, refunded in Q3) is no first win, so D2001 is: +2,500 under the cap
    assert "capped from 66,100.00 to 50,000.00" in p002 and "48,421.05" in p002


def test_html_output_goes_to_the_file_named(work):
    run()
    result = cosell(
        "statement", "--period", "2026-Q3", "--format", "html", "--partner", "P004", "-o", "p4.html"
    )
    assert result.exit_code == 0, result.output
    page = (work / "p4.html").read_text(encoding="utf-8")
    assert 'id="partner-P004"' in page and 'id="partner-P001"' not in page
    # Tailspin exits on 2026-08-15: its unreleased MDF is paid in the period that holds the exit
    assert "the partner exits on 2026-08-15, so the unreleased 3,000.00 is paid now" in page


def test_an_unknown_format_exits_2(work):
    run()
    result = cosell("statement", "--period", "2026-Q3", "--format", "pdf")
    assert result.exit_code == 2 and "html" in result.output


def test_a_partner_not_in_the_ledger_exits_2(work):
    run()
    result = cosell("statement", "--period", "2026-Q3", "--format", "html", "--partner", "P999")
    assert result.exit_code == 2 and "P999" in result.output


def test_a_bad_program_file_exits_2(work):
    run()
    (work / "bad.yaml").write_text("program: x\n")
    result = cosell("statement", "--period", "2026-Q3", "--format", "html", "--program", "bad.yaml")
    assert result.exit_code == 2


def test_explain_shows_the_next_tier_adjustments_and_mdf_like_the_page(work):
    two_periods()
    result = cosell("explain", "P002", "--program", "program.yaml", "--input", "data")
    assert result.exit_code == 0, result.output
    out = result.output
    assert (
        "subtotal before the cap and budget: 55,200.00 (63,600.00 subject to the cap, -8,400.00 outside it)"
        in out
    )
    assert "cap: capped from 63,600.00 to 50,000.00" in out
    assert "budget: scaled by the program budget from 50,000.00 to 48,421.05" in out
    assert "period earnings (MDF left out): 40,021.05 USD" in out
    assert "30,000.00 funded, 15,000.00 paid on approval, 15,000.00 released, 0.00 pending" in out
    p001 = cosell("explain", "P001", "--program", "program.yaml", "--input", "data").output
    assert "Next tier: Gold" in p001 and "won_revenue ≥ 250,000: 174,960 now, 75,040 to go" in p001


def test_explain_shows_every_date_and_amount_of_its_tables_whole_in_80_columns(work):
    # 80 columns: what rich gives a command whose output is not a terminal (a pipe, a file, a CI log)
    two_periods()
    out = cosell("explain", "P002", "--program", "program.yaml", "--input", "data").output
    mdf = out[out.index("Market-development funds") :]
    # M001 approved 2026-07-18, funded 12,000.00; M002 approved 2026-08-02, funded 18,000.00
    for figure in ("2026-07-18", "12,000.00", "6,000.00", "2026-08-02", "18,000.00", "9,000.00"):
        assert figure in mdf, figure
    tables = [line for line in out.splitlines() if line[:1] in "┏┃┡│└"]
    assert max(len(line) for line in tables) <= 80
    assert not [line for line in tables if "…" in line]


def test_explain_shows_the_pipeline_a_pending_mdf_claim_still_needs(work):
    edit(work / "data" / "deals.csv", ",EMEA Cloud Push,", ",,")
    result = cosell("explain", "P001", "--program", "program.yaml", "--input", "data")
    assert result.exit_code == 0, result.output
    assert (
        "M003 pending 4,000.00: released once the pipeline of deals of campaign EMEA Cloud Push created on or "
        "after 2026-07-09 reaches 24,000.00 (now 0.00, 24,000.00 to go)" in result.output
    )


def test_a_closed_period_renders_from_the_ledger_alone_identical_after_the_program_is_edited(work):
    two_periods()
    assert cosell("close", "--period", "2026-Q3").exit_code == 0

    def render_all():
        out = {}
        for fmt in ("html", "json", "csv", "terminal"):
            result = cosell("statement", "--period", "2026-Q3", "--format", fmt, "--program", "program.yaml")
            assert result.exit_code == 0, result.output
            out[fmt] = result.output.encode()
        return out

    before = render_all()
    edit(work / "program.yaml", "sourced_pipeline:        {weight: 3, target: 500000}",
         "sourced_pipeline:        {weight: 5, target: 900000}")  # fmt: skip
    edit(work / "program.yaml", "win_rate:                {weight: 2, target: \"0.4\"}",
         "win_rate:                {weight: 2, target: \"0.9\"}")  # fmt: skip
    edit(
        work / "program.yaml",
        "requires: {won_revenue: 250000}",
        "requires: {won_revenue: 900000, win_rate: 2}",
    )
    edit(work / "program.yaml", "{name: Silver,     min_score: 40,", "{name: Silver,     min_score: 55,")
    edit(work / "program.yaml", "{name: Gold,       min_score: 70,", "{name: Gold,       min_score: 95,")
    edit(work / "program.yaml", "caps: {per_partner: 50000, program_budget: 115000}",
         "caps: {per_partner: 70000, program_budget: 215000}")  # fmt: skip
    assert render_all() == before
    assert b"500,000" in before["html"] and b"900,000" not in before["html"]
