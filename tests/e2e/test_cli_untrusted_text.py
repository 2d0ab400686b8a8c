"""Text from the CRM or a CSV file reaches the terminal and the files cosell writes as plain text: no
markup, no control sequence, no NUL, no spreadsheet formula."""

import csv

from invoke import cosell

RUN = ("run", "--program", "program.yaml", "--input", "data", "--output", "out")
EVIL_NAME = "[bold red]Evil[/]\x1b[2J Nu\x00ll"
FORMULA_ID = '=HYPERLINK("http://attacker.example","D1001")'


def rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def plant(work):
    partners = work / "data" / "partners.csv"
    partners.write_text(partners.read_text().replace("Northwind Partners", f'"{EVIL_NAME}"'))
    quoted = FORMULA_ID.replace('"', '""')
    for name in ("deals.csv", "deal_partners.csv", "activities.csv"):
        path = work / "data" / name
        path.write_text(path.read_text().replace("D1001,", f'"{quoted}",'))


def test_a_partner_name_with_markup_and_escape_codes_is_shown_as_text(work):
    plant(work)
    result = cosell(*RUN)
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x00" not in result.output
    # Control characters never enter a record's name; the markup is shown as typed (the table wraps it).
    assert "[bold" in result.output and "red]Evil[/][2J" in result.output
    assert "Null" in result.output


def test_no_nul_reaches_the_written_fields(work):
    plant(work)
    assert cosell(*RUN).exit_code == 0
    for name in ("accounts.csv", "deals.csv", "changes.csv"):
        assert "\x00" not in (work / "out" / name).read_text(encoding="utf-8")
    note = {r[0]: r for r in rows(work / "out" / "deals.csv")}[f"'{FORMULA_ID}"][3]
    assert note.startswith("Earned: [bold red]Evil[/][2J Null: ")


def test_a_formula_is_never_a_cell_of_a_csv_cosell_writes_but_negative_amounts_stay_numbers(work):
    plant(work)
    assert cosell(*RUN).exit_code == 0
    deals = {r[0]: r for r in rows(work / "out" / "deals.csv")}
    assert FORMULA_ID not in deals and deals[f"'{FORMULA_ID}"][1] == "13320.00"
    changed = [r for r in rows(work / "out" / "changes.csv") if r[1].endswith('D1001")')]
    assert changed and all(r[1] == f"'{FORMULA_ID}" for r in changed)
    statement = cosell("statement", "--period", "2026-Q3", "--format", "csv")
    cells = [cell for row in csv.reader(statement.output.splitlines()) for cell in row]
    assert FORMULA_ID not in cells and f"'{FORMULA_ID}" in cells
    assert not any(cell[:1] in ("=", "+", "@", "\t", "\r") for cell in cells)
    negative = [cell for cell in cells if cell.startswith("-")]
    assert negative and all(cell.replace("-", "", 1).replace(".", "", 1).isdigit() for cell in negative)
    # The files read back as written: a rerun finds nothing to change.
    again = cosell(*RUN, "--json")
    assert again.exit_code == 0 and '"changes": []' in again.output
