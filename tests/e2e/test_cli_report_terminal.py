"""`cosell report` on a terminal (no --format, no -o) prints a readable summary, not the page's HTML;
piped or redirected, it writes the HTML page as it always did."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from cosell.ledger import Ledger
from cosell.periods import Period
from cosell.report.model import build
from cosell.report.terminal import TABLE_PARTNERS, print_summary
from example_runs import two_periods
from invoke import ok


@pytest.fixture
def on_a_terminal(monkeypatch):
    """Standard output is a terminal (the test runner's is not)."""
    monkeypatch.setattr("cosell.cli_report.stdout_is_terminal", lambda: True)


def test_on_a_terminal_the_report_is_a_text_summary_with_a_hint_to_write_the_page(work, on_a_terminal):
    two_periods()
    ok("adjust", "propose", "--partner", "P003", "--amount", "900", "--reason", "x", "--by", "ann")
    ok("adjust", "approve", "1", "--by", "bob")
    ok("run", "--program", "program.yaml", "--input", "data", "--output", "out")
    text = ok("report", "--period", "2026-Q3").stdout
    assert "<!DOCTYPE html>" not in text and "<" not in text
    assert "Total incentives" in text and "151,500.00" in text
    assert "115,000.00 inside the budget of 115,000.00 (100.00 %)" in text
    assert "outside it: adjustment 900.00, clawback -8,400.00, mdf 44,000.00" in text
    assert "adjustments paid: 1, 900.00" in text and "pending approval: 0, 0.00" in text
    assert "Tiers:" in text and "exited 1" in text
    assert "Partners, 2026-Q3" in text and "│ P002" in text and "│ P006" in text  # the partners table
    assert "cosell report --period 2026-Q3 -o report.html writes the full page with charts" in text
    # asked for a form, or for a file, it writes that form as before
    assert ok("report", "--period", "2026-Q3", "--format", "html").stdout.startswith("<!DOCTYPE html>")
    assert ok("report", "--period", "2026-Q3", "--format", "json").stdout.startswith("{")


def test_the_terminal_summary_lists_at_most_50_partners_and_says_how_many_more(work):
    two_periods()
    with Ledger.connect(None, create=False) as book:
        report = build(book, Period.parse("2026-Q3"), 4, {})
    one = report["partners"][0]
    report["partners"] = [{**one, "id": f"X{i:03}"} for i in range(TABLE_PARTNERS + 7)]
    console = Console(file=io.StringIO(), width=120)
    print_summary(console, report)
    text = console.file.getvalue()
    assert "X049" in text and "X050" not in text
    assert "… and 7 more partners" in text


def test_piped_or_redirected_the_report_is_the_html_page_as_before(work):
    two_periods()
    assert ok("report", "--period", "2026-Q3").stdout.startswith("<!DOCTYPE html>")
