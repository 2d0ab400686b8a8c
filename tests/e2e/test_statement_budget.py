"""What a statement says about the program budget for a partner without a budget line: the budget scaled
every other partner, so "the program stayed within its budget" would be false. The bundled example with
Contoso Consulting (P002) given nothing in 2026-Q3 but the clawback of D2005 (refunded 2026-07-10) and a
program budget of 20,000."""

import json
import sqlite3

import pytest

from example_runs import two_periods
from invoke import cosell


def without(path, *starts):
    """``path`` without the rows starting with any of ``starts``."""
    rows = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [row for row in rows if not row.startswith(starts)]
    assert len(kept) < len(rows)
    path.write_text("".join(kept), encoding="utf-8")


@pytest.fixture
def clawback_only(work):
    data = work / "data"
    # P002's 2026-Q3 deals (D2002, sourced by it, goes with its co-sell row), its activities and claims
    without(data / "deals.csv", "D2001,", "D2002,", "D2003,", "D2004,", "D2006,", "D2007,")
    without(data / "deal_partners.csv", "D2002,")
    without(data / "activities.csv", "A005,", "A006,", "A007,")
    without(data / "mdf_claims.csv", "M001,", "M002,")
    program = work / "program.yaml"
    text = program.read_text(encoding="utf-8")
    assert "caps: {per_partner: 50000, program_budget: 115000}" in text
    program.write_text(
        text.replace("caps: {per_partner: 50000, program_budget: 115000}", "caps: {program_budget: 20000}")
    )
    two_periods()
    return work


def statement(partner, fmt):
    result = cosell("statement", "--period", "2026-Q3", "--format", fmt, "--partner", partner)
    assert result.exit_code == 0, result.output
    return result.output


# The totals subject to the budget: P001 20,896.00 + P003 6,900.00 + P004 32,418.00 + P005 100.00 + P006
# 7,236.00 = 67,550.00 (P002 has none: its clawback is outside the budget); 20,000 ÷ 67,550 = 0.2960769…
SCALED = (
    "the program budget scaled the program by 0.296077; none of your lines this period were subject to it"
)


def test_a_partner_without_a_budget_line_reads_that_the_budget_scaled_the_program_not_that_it_stayed_within(
    clawback_only,
):
    terminal = statement("P002", "terminal")
    assert f"budget: {SCALED}\n" in terminal
    assert "stayed within its budget" not in terminal
    page = statement("P002", "html")
    assert f"<th>Program budget<div class='small'>{SCALED}</div></th>" in page
    assert "stayed within its budget" not in page
    # every other partner has its own budget line, worded as before
    assert "budget: scaled by the program budget from 20,896.00 to 6,186.83: -14,709.17" in statement(
        "P001", "terminal"
    )
    # the program's total and budget stay with the program's own people
    assert "67,550.00" not in page and "20,000.00" not in page


def test_a_period_run_before_the_budgets_scaling_was_recorded_keeps_its_wording(clawback_only):
    with sqlite3.connect(clawback_only / "cosell.db") as conn:
        [(data,)] = conn.execute("SELECT data FROM cosell_statement_runs WHERE period = '2026-Q3'").fetchall()
        doc = json.loads(data)
        assert (doc["budget_scaled"], doc["budget_factor"][:8]) == (True, "0.296076")
        del doc["budget_scaled"], doc["budget_factor"]
        conn.execute("UPDATE cosell_statement_runs SET data = ? WHERE period = '2026-Q3'", (json.dumps(doc),))
    assert "budget: not scaled: the program stayed within its budget\n" in statement("P002", "terminal")
