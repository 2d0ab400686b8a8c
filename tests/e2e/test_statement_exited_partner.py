"""A partner that has left the program, in its statement: Tailspin Integrators (P004) of the bundled
example exits on 2026-08-15. Its 2026-Q3 statement says "Exited (was Silver)" wherever it shows the tier,
as the account's tier field and `cosell settlement` do, and shows neither what Silver brings nor a next
tier: a departed partner is never promoted and its account's benefits are cleared."""

import csv
import json

import openpyxl

from example_runs import run, two_periods
from invoke import cosell


def statement(partner, fmt, period="2026-Q3"):
    result = cosell("statement", "--period", period, "--format", fmt, "--partner", partner)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_partner_that_has_left_reads_exited_with_no_benefits_and_no_next_tier_in_every_format(work):
    run()
    with (work / "out" / "accounts.csv").open(encoding="utf-8", newline="") as handle:
        account = {row["id"]: row for row in csv.DictReader(handle)}["P004"]
    assert (account["cosell_tier"], account["cosell_tier_benefits"]) == ("Exited (was Silver)", "")

    page = statement("P004", "html")
    assert '<span class="badge">Exited (was Silver)</span>' in page
    assert '<div class="value">Exited</div><div class="sub">was Silver, left on 2026-08-15</div>' in page
    assert "<p>Assigned <b>Exited (was Silver)</b>, eligible <b>Silver</b>.</p>" in page
    assert "<p>Left the program on 2026-08-15: no tier benefits, no next tier.</p>" in page
    for promised in ("What Silver brings", "Next tier", "What Gold adds", "2,350 to go", "highest tier"):
        assert promised not in page

    for text in (
        statement("P004", "terminal"),
        cosell("explain", "P004", "--program", "program.yaml", "--input", "data").output,
    ):
        assert "tier: Exited (was Silver): " in text
        assert "Left the program on 2026-08-15: no tier benefits, no next tier" in text
        assert "Silver brings" not in text and "Next tier" not in text and "Gold adds" not in text

    [p004] = json.loads(statement("P004", "json"))["partners"]
    # "tier" is the tier the run assigned, as `cosell run --json` gives it; "tier_shown" what people read
    assert (p004["tier"], p004["tier_shown"], p004["benefits"]) == ("Silver", "Exited (was Silver)", [])

    assert cosell("statement", "--period", "2026-Q3", "--format", "xlsx", "-o", "q3.xlsx").exit_code == 0
    totals = openpyxl.load_workbook(work / "q3.xlsx")["Totals"]
    tiers = {row[0].value: row[2].value for row in totals.iter_rows(min_row=2)}
    assert tiers["P004"] == "Exited (was Silver)" and tiers["P001"] == "Silver"


def test_the_tier_reason_of_a_partner_that_has_left_does_not_repeat_the_tier_label_beside_it(work):
    run()
    reason = "score 47.44 makes it eligible for Silver (min 40); left the program on 2026-08-15"
    page = statement("P004", "html")
    assert "<p>Assigned <b>Exited (was Silver)</b>, eligible <b>Silver</b>.</p>" in page
    assert f"<p class='muted small'>{reason}</p>" in page
    assert page.count("Exited (was Silver)") == 2  # the badge and the tier line, not the reason
    for text in (
        statement("P004", "terminal"),
        cosell("explain", "P004", "--program", "program.yaml", "--input", "data").output,
    ):
        flat = " ".join(text.split())  # the terminal wraps the tier line
        assert f"tier: Exited (was Silver): {reason} Left the program on 2026-08-15" in flat
        assert flat.count("Exited (was Silver)") == 1
    [p004] = json.loads(statement("P004", "json"))["partners"]
    assert p004["tier_shown"] == "Exited (was Silver)" and "Exited" not in json.dumps(p004["lines"])


def test_a_partner_exiting_after_the_periods_end_still_holds_its_tier_in_that_period(work):
    two_periods()
    # 2026-Q2 ends on 2026-06-30, before P004's exit: it held Silver under the demotion grace
    page = statement("P004", "html", period="2026-Q2")
    assert '<span class="badge">Silver</span>' in page and "Exited" not in page
    assert "To be eligible for Silver again (held under the demotion grace)" in page
    assert "What Silver brings" in page
