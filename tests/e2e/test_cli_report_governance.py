"""`cosell report` shows the governance body's decisions for the period: the adjustments paid (outside the
budget, next to the budget figure) and pending, and the tier exceptions in force, agreeing with `cosell
adjust list`, `cosell tier-override list` and the statements."""

from __future__ import annotations

import csv
import json
import shutil
from decimal import Decimal
from pathlib import Path

from invoke import ok

ROOT = Path(__file__).resolve().parents[2]


def _example_with_decisions(folder: Path, ledger: str) -> None:
    """The bundled example: 2026-Q2 run and closed, 2026-Q3 run; then an adjustment approved by a second
    person, one a threshold approved, a tier exception, and the quarter run again; then one more
    adjustment proposed and left pending, and one for a later quarter (not this period's business)."""
    shutil.copy(ROOT / "examples" / "program.yaml", folder / "program.yaml")
    shutil.copytree(ROOT / "examples" / "data", folder / "data")
    program = folder / "program.yaml"
    program.write_text(program.read_text() + "\ngovernance: {require_approval_over: 500}\n")

    def run(*extra: str) -> None:
        ok("run", "--program", program, "--input", folder / "data", "--output", folder / "out",
           "--ledger", ledger, *extra)  # fmt: skip

    run("--period", "2026-Q2")
    ok("close", "--period", "2026-Q2", "--ledger", ledger)
    run()
    ok("adjust", "propose", "--partner", "P003", "--amount", "900", "--reason", "x", "--by", "ann",
       "--ledger", ledger)  # fmt: skip
    ok("adjust", "approve", "1", "--by", "bob", "--ledger", ledger)
    ok("adjust", "propose", "--partner", "P005", "--amount", "40", "--reason", "goodwill credit", "--by", "ann",
       "--program", program, "--ledger", ledger)  # fmt: skip
    ok("tier-override", "--partner", "P006", "--tier", "Gold", "--until", "2026-Q4", "--reason",
       "EU launch partner", "--by", "ann", "--ledger", ledger)  # fmt: skip
    ok("tier-override", "approve", "1", "--by", "dave", "--ledger", ledger)
    run()
    ok("adjust", "propose", "--partner", "P002", "--amount", "1000.50", "--reason", "Data Summit booth rebate",
       "--by", "ann", "--period", "2026-Q3", "--ledger", ledger)  # fmt: skip
    ok("adjust", "propose", "--partner", "P001", "--amount", "-300", "--reason", "claim paid twice",
       "--by", "ann", "--ledger", ledger)  # fmt: skip
    ok("adjust", "propose", "--partner", "P001", "--amount", "7000", "--reason", "next quarter's",
       "--by", "ann", "--period", "2026-Q4", "--ledger", ledger)  # fmt: skip


def _report(ledger: str, form: str) -> str:
    return ok("report", "--period", "2026-Q3", "--ledger", ledger, "--format", form).stdout


def test_the_report_shows_the_adjustments_paid_and_pending_and_the_tier_exceptions_in_force(
    tmp_path, sqlite_url
):
    _example_with_decisions(tmp_path, sqlite_url)
    report = json.loads(_report(sqlite_url, "json"))
    governance = report["governance"]
    listed = json.loads(ok("adjust", "list", "--format", "json", "--ledger", sqlite_url).stdout)
    paid = [a for a in listed if a["state"] == "applied" and a["applied_period"] == "2026-Q3"]
    assert [(a["id"], a["partner_id"], a["amount"], a["reason"], a["proposed_by"], a["approved_by"])
            for a in governance["adjustments_paid"]] == [
        (1, "P003", "900.00", "x", "ann", "bob"),
        (2, "P005", "40.00", "goodwill credit", "ann", None),  # the program's threshold approved it
    ]  # fmt: skip
    assert [a["id"] for a in paid] == [1, 2] and [a["amount"] for a in paid] == ["900.00", "40.00"]
    assert governance["adjustments_paid_total"] == "940.00"
    # pending: 2026-Q3's and the one of no period; the one for 2026-Q4 is a later period's
    assert governance["pending_approval"] == {"count": 2, "amount": "700.50"}

    # the statements' adjustment lines are the adjustments paid, amount for amount
    statements = json.loads(ok("statement", "--period", "2026-Q3", "--format", "json", "--ledger",
                               sqlite_url).stdout)  # fmt: skip
    lines = {
        line["explanation"].split(":")[0]: (s["partner_id"], line["amount"])
        for s in statements["partners"]
        for line in s["lines"]
        if line["explanation"].startswith("adjustment ")
    }
    assert lines == {
        f"adjustment {a['id']}": (a["partner_id"], a["amount"]) for a in governance["adjustments_paid"]
    }

    # next to the budget: what was paid outside it, the adjustments among it
    totals = report["totals"]
    budget = totals["budget"]
    assert budget["in_budget"] == "115000.00" and budget["used"] == "1.0000"
    outside = budget["outside_by_kind"]
    assert outside["adjustment"] == "940.00" == totals["by_kind"]["adjustment"]
    assert Decimal(budget["in_budget"]) + Decimal(budget["outside_budget"]) == Decimal(totals["incentives"])
    assert sum(Decimal(v) for v in outside.values()) == Decimal(budget["outside_budget"])

    exceptions = json.loads(ok("tier-override", "list", "--format", "json", "--ledger", sqlite_url).stdout)
    assert [e["id"] for e in exceptions] == [1]
    assert governance["tier_exceptions"] == [
        {"id": 1, "partner_id": "P006", "name": "Litware Group", "tier": "Gold", "until": "2026-Q4",
         "reason": "EU launch partner", "proposed_by": "ann", "approved_by": "dave", "held": True}
    ]  # fmt: skip

    page = _report(sqlite_url, "html")
    assert "<h2>Governance</h2>" in page
    assert "by the program's threshold" in page and "goodwill credit" in page
    assert "EU launch partner" in page and "Pending approval: 2, 700.50" in page
    assert "115,000.00 inside the budget of 115,000.00 (100.00 %); outside it: adjustment 940.00" in page

    rows = list(csv.DictReader(_report(sqlite_url, "csv").splitlines()))
    cell = {(r["period"], r["scope"], r["id"], r["figure"]): r["value"] for r in rows}
    assert cell[("2026-Q3", "governance", "", "adjustments_paid_total")] == "940.00"
    assert cell[("2026-Q3", "governance", "", "pending_approval.count")] == "2"
    assert cell[("2026-Q3", "governance:adjustments_paid", "2", "approved_by")] == ""
    assert cell[("2026-Q3", "governance:tier_exceptions", "1", "tier")] == "Gold"
    assert cell[("2026-Q3", "program", "", "budget.outside_by_kind.adjustment")] == "940.00"


def test_a_closed_periods_report_lists_no_exception_approved_after_its_run_nor_adjustments_paid_later(
    tmp_path, sqlite_url
):
    _example_with_decisions(tmp_path, sqlite_url)
    q2 = json.loads(ok("report", "--period", "2026-Q2", "--ledger", sqlite_url, "--format", "json").stdout)
    governance = q2["governance"]
    # exception 1 runs until 2026-Q4 but was approved after 2026-Q2's run: it never applied to 2026-Q2
    assert governance["tier_exceptions"] == []
    assert governance["adjustments_paid"] == [] and governance["adjustments_paid_total"] == "0.00"
    assert q2["totals"]["budget"]["outside_by_kind"] == {}
    # pending: the one of no period (the next run pays it once approved); 2026-Q3's and 2026-Q4's are later
    assert governance["pending_approval"] == {"count": 1, "amount": "-300.00"}
