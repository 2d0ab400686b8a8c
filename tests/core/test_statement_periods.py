"""What the partner statement reads beyond its period: deal names for ids, the earlier periods' totals
(with the line kinds each period's run recorded) and the year to date, on SQLite and PostgreSQL."""

import json
from decimal import Decimal

import pytest

from cosell.ledger import Ledger
from cosell.periods import Period
from cosell.results import LineKind, PayoutLine
from cosell.statements import document
from cosell.statements.facts import RunRecord, encode
from cosell.statements.model import named_deals

D = Decimal


def test_an_id_reads_as_the_deals_name_only_as_a_whole_word():
    names = {"D10": "Acme - Renewal", "D100": "Acme - Expansion"}
    assert named_deals("sourced (D10, D100)", names) == "sourced (Acme - Renewal, Acme - Expansion)"
    assert named_deals("Acme - Renewal (D10) won", names) == "Acme - Renewal won"
    assert named_deals("D10x and xD10 and D10-2", names) == "D10x and xD10 and D10-2"
    assert named_deals("no deal here", names) == "no deal here"
    assert named_deals("D10 won", {}) == "D10 won"


def record(ledger, period, lines, kinds):
    run = RunRecord("P", "USD", None, None, tuple(kinds), {})
    ledger.record_run(
        period=Period.parse(period),
        program="P",
        connector="files",
        target="files:out",
        lines=lines,
        standings=[],
        projections=[],
        writes=[],
        statement=encode(run),
    )


@pytest.mark.parametrize(
    "ledger_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_earlier_periods_are_summed_with_the_kinds_their_own_run_recorded(ledger_url):
    earning = LineKind("bonus", "Bonus")
    outside = LineKind("bonus", "Bonus", capped=False, in_budget=False, period_earnings=False)
    with Ledger.connect(ledger_url) as book:
        # 2025-Q4: another year, left out of the year to date; 2026-Q1: "bonus" was outside earnings then
        record(book, "2025-Q4", [PayoutLine("P1", "bonus", D("5.00"), "b")], [earning])
        record(book, "2026-Q1", [PayoutLine("P1", "bonus", D("7.00"), "b")], [outside])
        record(book, "2026-Q2", [PayoutLine("P2", "bonus", D("1.00"), "b")], [earning])
        record(book, "2026-Q3", [PayoutLine("P1", "bonus", D("10.00"), "b")], [earning])
        [p1] = document(book, "2026-Q3", "P1").statements
    assert [(p.period, p.earnings, p.outside_earnings) for p in p1.periods] == [
        ("2025-Q4", D("5.00"), D(0)),
        ("2026-Q1", D(0), D("7.00")),  # P1 had no line in 2026-Q2: that period is not shown
        ("2026-Q3", D("10.00"), D(0)),
    ]
    ytd = p1.year_to_date
    assert ytd is not None and (ytd.earnings, ytd.outside_earnings, ytd.payable) == (
        D("10.00"),
        D("7.00"),
        D("17.00"),
    )


def test_a_run_recorded_without_the_newer_keys_reads_them_as_not_recorded(tmp_path):
    with Ledger.connect(f"sqlite:///{tmp_path}/l.db") as book:
        record(
            book,
            "2026-Q3",
            [PayoutLine("P1", "bonus", D("1.00"), "won D1", "D1")],
            [LineKind("bonus", "Bonus")],
        )
        run_text, _ = book.statement_data("2026-Q3")
        doc = json.loads(run_text)
        assert doc["used_metrics"] is None
        [p1] = document(book, "2026-Q3", "P1").statements
    assert p1.benefits is None and p1.deal_names is None and p1.with_deal_names("won D1") == "won D1"
