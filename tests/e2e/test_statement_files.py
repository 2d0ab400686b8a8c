"""`cosell statement --per-partner DIR` (one file a partner, for sending) and `--format xlsx` (a workbook
for finance: the period's lines and each partner's totals, amounts as numbers)."""

import csv
import io
from decimal import Decimal

import openpyxl
import pytest

from cosell.statements import file_names
from example_runs import run, two_periods
from invoke import cosell

MONEY = '#,##0.00 "USD";[Red]-#,##0.00 "USD"'


def edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def workbook(work, *extra):
    result = cosell("statement", "--period", "2026-Q3", "--format", "xlsx", "-o", "q3.xlsx", *extra)
    assert result.exit_code == 0, result.output
    return openpyxl.load_workbook(work / "q3.xlsx")


def rows(sheet):
    head, *body = sheet.iter_rows()
    names = [c.value for c in head]
    return [dict(zip(names, row, strict=True)) for row in body]


def test_the_workbook_holds_every_line_and_the_totals_as_numbers_in_the_money_format(work):
    two_periods()
    book = workbook(work)
    assert book.sheetnames == ["Lines", "Totals"]
    lines = rows(book["Lines"])
    csv_lines = list(csv.DictReader(io.StringIO(cosell("statement", "--period", "2026-Q3").output)))
    assert len(lines) == len(csv_lines)
    for row, line in zip(lines, csv_lines, strict=True):
        assert row["Partner"].value == line["partner_id"] and row["Kind"].value == line["kind"]
        assert row["Amount"].data_type == "n" and row["Amount"].number_format == MONEY
        assert Decimal(str(row["Amount"].value)).quantize(Decimal("0.01")) == Decimal(line["amount"])
    commission = next(r for r in lines if r["Deal"].value == "D2001")
    assert commission["Deal name"].value == "Contoso - ERP rollout"
    assert commission["Partner name"].value == "Contoso Consulting"

    totals = {r["Partner"].value: r for r in rows(book["Totals"])}
    p002 = totals["P002"]
    assert p002["Tier"].value == "Gold"
    assert p002["Period earnings"].value == pytest.approx(40021.05)
    assert p002["MDF and other lines"].value == pytest.approx(30000)
    assert p002["Total payable"].value == pytest.approx(70021.05)
    assert p002["Projected, not paid"].value == pytest.approx(51360)
    assert all(p002[c].number_format == MONEY for c in ("Period earnings", "Total payable"))
    # each partner's payable is the sum of its lines; the last row sums the partners
    for pid, row in totals.items():
        if pid == "Total":
            continue
        mine = sum(Decimal(str(r["Amount"].value)) for r in lines if r["Partner"].value == pid)
        assert Decimal(str(row["Total payable"].value)).quantize(Decimal("0.01")) == mine.quantize(
            Decimal("0.01")
        )
    everyone = sum(Decimal(str(r["Amount"].value)) for r in lines)
    assert totals["Total"]["Total payable"].value == pytest.approx(float(everyone))
    assert totals["Total"]["Partner name"].value == "6 partners"


def test_workbook_text_that_looks_like_a_formula_stays_text(work):
    edit(work / "data" / "partners.csv", "Northwind Partners", '"=HYPERLINK(""http://x.example"",""pay"")"')
    edit(work / "data" / "deals.csv", "Northwind - Data platform", "@SUM(A1:A9)")
    run()
    book = workbook(work)
    lines = rows(book["Lines"])
    row = next(r for r in lines if r["Deal"].value == "D1001")
    for cell, text in (
        (row["Partner name"], '=HYPERLINK("http://x.example","pay")'),
        (row["Deal name"], "@SUM(A1:A9)"),
    ):
        assert cell.value == text and cell.data_type == "s" and cell.quotePrefix
    assert (
        row["Explanation"].value.startswith("@SUM(A1:A9) (D1001) won") and row["Explanation"].data_type == "s"
    )
    assert not any(c.data_type == "f" for sheet in book for r in sheet.iter_rows() for c in r)


def test_a_workbook_is_never_written_to_the_terminal(work):
    run()
    result = cosell("statement", "--period", "2026-Q3", "--format", "xlsx")
    assert result.exit_code == 2 and "--output FILE or --per-partner DIR" in result.output


def test_per_partner_writes_one_page_a_partner_named_after_its_id(work):
    two_periods()
    result = cosell("statement", "--period", "2026-Q3", "--format", "html", "--per-partner", "send")
    assert result.exit_code == 0, result.output
    assert "wrote 6 statement(s) to send" in result.output
    files = sorted(p.name for p in (work / "send").iterdir())
    assert files == [f"P00{i}.html" for i in range(1, 7)]
    page = (work / "send" / "P002.html").read_text(encoding="utf-8")
    assert 'id="partner-P002"' in page and 'id="partner-P001"' not in page
    # the same page as the statement of that partner alone
    alone = cosell("statement", "--period", "2026-Q3", "--format", "html", "--partner", "P002").output
    assert page == alone


def test_per_partner_works_in_every_format_each_file_holding_its_partner_alone(work):
    run()
    assert (
        cosell("statement", "--period", "2026-Q3", "--format", "csv", "--per-partner", "csv").exit_code == 0
    )
    with (work / "csv" / "P003.csv").open(encoding="utf-8", newline="") as handle:
        p003 = list(csv.DictReader(handle))
    assert p003 and {r["partner_id"] for r in p003} == {"P003"}
    assert cosell("statement", "--period", "2026-Q3", "--format", "xlsx", "--per-partner", "x").exit_code == 0
    book = openpyxl.load_workbook(work / "x" / "P004.xlsx")
    assert {r["Partner"].value for r in rows(book["Lines"])} == {"P004"}
    assert (
        cosell("statement", "--period", "2026-Q3", "--format", "terminal", "--per-partner", "t").exit_code
        == 0
    )
    assert "Tailspin Integrators" in (work / "t" / "P004.txt").read_text(encoding="utf-8")


def test_per_partner_and_output_together_are_refused(work):
    run()
    result = cosell("statement", "--period", "2026-Q3", "--per-partner", "d", "-o", "x.csv")
    assert result.exit_code == 2 and "--output and --per-partner" in result.output


def test_file_names_are_safe_and_never_shared():
    names = file_names(
        ["P001", "../../etc/passwd", "a/b", "CON", "p1", "P1", "Ünïcode Ltd", ".hidden", ""], "html"
    )
    assert names["P001"] == "P001.html"
    assert all("/" not in n and "\\" not in n and not n.startswith(".") for n in names.values())
    assert names["../../etc/passwd"].startswith("etc_passwd-") and names["a/b"].startswith("a_b-")
    assert names["CON"].startswith("CON-")  # a reserved device name on Windows
    assert names["p1"] != names["P1"] and names["p1"].casefold() != names["P1"].casefold()
    assert names["Ünïcode Ltd"].startswith("n_code_Ltd-")
    assert names[""].startswith("partner-") and names[".hidden"].startswith("hidden-")
    assert len(set(names.values())) == len(names)
    assert file_names(["P1"], "terminal") == {"P1": "P1.txt"}
    assert file_names(["P1"], "my format!") == {"P1": "P1.txt"}
