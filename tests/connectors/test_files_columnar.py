"""The columnar CSV path and the cell-by-cell path accept and reject the same folders: the same records
for a folder the columns prove clean, and a folder they cannot prove is read cell by cell, which words
every problem. Folders are the bundled example with cells and files mutated."""

from __future__ import annotations

import codecs
import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cosell.connectors.files import reader
from cosell.errors import InputError
from cosell.program import Program, load_program

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "data"
FILES = reader.INPUT_FILES

CELLS = (
    "", " ", "  x  ", "\t12\t", "\u200312\u3000", "\x1c7", "-1", "-0.01", "0", "0.25", "1", "1.5", "100",
    "101", "007", "1.50", ".5", "5.", "-0", "1e5", "1_000", "9e18", "1000000000000", "1000000000000.01", "99999999999999999999.999",
    "0." + "0" * 99 + "1", "0." + "0" * 100 + "1", "0.5" + "0" * 99, "1E-101", "1.4210854715202004e-14",
    "١٢٣", "１２", "NaN", "inf", "0x10", "2026-07-14", "2026-13-01", "2026-02-30", "0001-01-01",
    "2026-07-01T02:00:00Z", "2026-07-01T02:00:00.000+0000", "2026-07-01 23:30:00", "07/14/2026",
    "won", "Won", "LOST", "open", "closed", "sourced", "COSELL", "influenced", "boss", "active", "exited",
    "exiting", "approved", "paid", "rejected", "submitted", "EUR", "eur", "GBP", "JPY", "US",
    "P001", "P002", "P999", "D1001", "D2002", "D9999", "A001", "M001", "a,b", "line\nbreak",
    'say "hi"', "é", "\x00", "[bold]x[/]",
)  # fmt: skip
"""Cells a user or a CRM export may hand over: valid values of each column's kind and near misses."""

REFUNDS = ("2026-06-01", "2026-07-31", "2026-08-01", "2026-08-20", "2026-09-12", "2026-12-31")
"""Refund dates around the example's wins (D4001 won 2026-08-01, D1001 2026-08-20, D3001 2026-09-12)."""

RAW = (
    '"ab"c',
    '"x" ',
    'x"y',
    '"a""b"',
    '""',
    '"',
)
"""Cells written as they are, unquoted: quotes Python's strict csv module and pyarrow read differently."""


@pytest.fixture(scope="module")
def program() -> Program:
    return load_program(ROOT / "examples" / "program.yaml").program


MERGES = [
    ["kind", "former_id", "id"],
    ["partner", "P900", "P001"],
    ["deal", "D900", "D1001"],
    ["deal", "D901", "D1001"],
]
"""A merges.csv for the example (which has none): two deals and a partner merged into its records."""


def _example() -> dict[str, list[list[str]]]:
    return {
        name: list(csv.reader(io.StringIO((EXAMPLE / name).read_text("utf-8"), newline="")))
        if name != reader.MERGES_FILE
        else [list(row) for row in MERGES]
        for name in FILES
    }


@st.composite
def folders(draw: st.DrawFn) -> tuple[dict[str, str | None], dict[str, bool]]:
    """The example's files as text, mutated: cells, columns, rows, blank lines, encodings, line ends."""
    files: dict[str, list[list[str]] | None] = dict(_example())
    raw_cells: dict[str, set[tuple[int, int]]] = {name: set() for name in FILES}
    for _ in range(draw(st.sampled_from((0, 1, 1, 2, 2, 3, 4)))):
        name = draw(st.sampled_from(FILES))
        rows = files[name]
        if rows is None:
            continue
        kind = draw(st.sampled_from(("cell", "cell", "raw", "copy", "drop column", "extra column", "blank",
                                     "short row", "drop file", "header", "pad", "pad", "case", "refund", "refund")))  # fmt: skip
        width = len(rows[0])
        row = draw(st.integers(1, len(rows) - 1)) if len(rows) > 1 else 0
        column = draw(st.integers(0, width - 1))
        in_row = bool(row) and column < len(rows[row])  # rows a mutation made shorter have fewer cells
        if kind == "cell" and in_row:
            rows[row][column] = draw(st.sampled_from(CELLS))
        elif kind == "raw" and in_row:
            rows[row][column] = draw(st.sampled_from(RAW))
            raw_cells[name].add((row, column))
        elif (
            kind == "copy"
            and in_row
            and len(rows) > 2
            and column < len(rows[other := draw(st.integers(1, len(rows) - 1))])
        ):
            rows[row][column] = rows[other][column]  # a repeated id, partner or share
        elif kind == "pad" and in_row:  # the same value, with spaces a strip removes
            pad = draw(st.sampled_from((" ", "\t", "\u00a0", "\u3000", "\x1f", "\u200b")))
            rows[row][column] = pad + rows[row][column] + pad
        elif kind == "case" and in_row:
            rows[row][column] = rows[row][column].upper()
        elif kind == "refund" and (deals := files[reader.DEALS_FILE]) and "refunded_on" in deals[0]:
            # a refund date on any deal: won, lost or open, before, on or after the day it closed
            at, line = deals[0].index("refunded_on"), draw(st.integers(1, len(deals) - 1))
            if at < len(deals[line]):
                deals[line][at] = draw(st.sampled_from(REFUNDS))
        elif kind == "drop column":
            for cells in rows:
                del cells[column : column + 1]
        elif kind == "extra column":
            rows[0].append(draw(st.sampled_from(("notes", "", " ", rows[0][column]))))
            for cells in rows[1:]:
                cells.append(draw(st.sampled_from(CELLS)))
        elif kind == "blank":
            rows.insert(row + 1, draw(st.sampled_from(([], [""] * width, [" "] * width, [","]))))
        elif kind == "short row" and row:
            rows[row] = rows[row][:-1]
        elif kind == "drop file":
            files[name] = None
        elif kind == "header":
            rows[0][column] = draw(st.sampled_from((" id ", "ID", rows[0][(column + 1) % width], "")))
    crlf = draw(st.booleans())
    quoting = draw(st.sampled_from((csv.QUOTE_MINIMAL, csv.QUOTE_ALL)))
    bom = draw(st.booleans())
    texts: dict[str, str | None] = {}
    for name, rows in files.items():
        if rows is None:
            texts[name] = None
            continue
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n" if crlf else "\n", quoting=quoting)
        for r, cells in enumerate(rows):
            if any((r, c) in raw_cells[name] for c in range(len(cells))):
                line = ",".join(cells)  # unquoted, as a hand-edited file has it
                out.write(line + ("\r\n" if crlf else "\n"))
            else:
                writer.writerow(cells)
        texts[name] = out.getvalue()
    return texts, {"bom": bom}


def _write(folder: Path, texts: dict[str, str | None], bom: bool) -> None:
    for name, text in texts.items():
        if text is not None:
            data = text.encode("utf-8")
            (folder / name).write_bytes((codecs.BOM_UTF8 if bom else b"") + data)


def _outcome(read: object) -> tuple[str, object]:
    try:
        records = read()  # type: ignore[operator]
    except InputError as exc:
        return "rejected", [str(p) for p in exc.problems]
    return "accepted", repr(records)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=folders())
def test_columnar_and_cell_paths_accept_and_reject_the_same_folders(
    drawn: tuple[dict[str, str | None], dict[str, bool]],
    program: Program,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    texts, options = drawn
    folder = tmp_path_factory.mktemp("folder")
    _write(folder, texts, options["bom"])
    by_cells = _outcome(lambda: reader._Folder(folder, program).read())
    columnar = reader._read_columnar(folder, program)
    event(f"cells {by_cells[0]}, columns {'proved' if columnar is not None else 'unproven'}")
    if columnar is not None:
        # The columns proved the folder clean: the cell path accepts it, with the very same records.
        assert by_cells == ("accepted", repr(columnar))
    assert _outcome(lambda: reader.read_folder(folder, program)) == by_cells


def test_a_clean_folder_is_read_by_columns_with_the_cell_paths_records(
    program: Program, tmp_path: Path
) -> None:
    # Spaces around cells, a BOM, CRLF line ends, quoted cells holding commas and line breaks, blank
    # lines, datetimes, choices in any case: valid input the columns prove without the cell path.
    rows = _example()
    rows["partners.csv"][1][1] = ' Northwind, "Partners"\r\nEMEA '
    rows["deals.csv"][1][5] = " Won "
    rows["deals.csv"][1][6] = "2026-07-02T10:00:00+02:00"
    rows["deals.csv"][2][2] = "6e4"
    for name, cells in rows.items():
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerows([*cells[:2], [], *cells[2:]])
        (tmp_path / name).write_bytes(codecs.BOM_UTF8 + out.getvalue().encode("utf-8"))
    columnar = reader._read_columnar(tmp_path, program)
    assert columnar is not None
    assert repr(columnar) == repr(reader._Folder(tmp_path, program).read())
    assert columnar.partners[0].name == 'Northwind, "Partners" EMEA'  # a name is read on one line


def _problems_read_by_rows(rows: dict[str, list[list[str]]], folder: Path, program: Program) -> list[str]:
    """The input problems of the files ``rows`` written to ``folder``, which the columnar read leaves to
    the read by rows."""
    for name, cells in rows.items():
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(cells)
        (folder / name).write_text(out.getvalue(), "utf-8")
    assert reader._read_columnar(folder, program) is None
    with pytest.raises(InputError) as caught:
        reader.read_folder(folder, program)
    return [str(p) for p in caught.value.problems]


def test_a_folder_the_columns_cannot_prove_gets_the_cell_paths_errors(
    program: Program, tmp_path: Path
) -> None:
    rows = _example()
    rows["deals.csv"][3][2] = "-500"
    rows["deals.csv"][4][5] = "closed"
    rows["activities.csv"][2][1] = "P999"
    assert _problems_read_by_rows(rows, tmp_path, program) == [
        "deals.csv:4: amount: '-500' must be at least 0: a refund is a refunded_on date, not a negative amount",
        "deals.csv:5: status: 'closed' must be one of open, won, lost",
        "activities.csv:3: partner_id: no partner 'P999' in partners.csv",
    ]


@pytest.mark.parametrize(
    ("deal", "refund", "problem"),
    [
        ("D4001", "2026-07-15", "deals.csv:16: refunded_on: 2026-07-15 is before closed_on 2026-08-01: a deal is "
         "refunded on or after the day it is won"),
        ("D1002", "2026-08-01", "deals.csv:3: refunded_on: 2026-08-01 is given on a deal that is open: only a "
         "won deal is refunded"),
        ("D1004", "2026-09-03", "deals.csv:5: refunded_on: 2026-09-03 is given on a deal that is lost: only a "
         "won deal is refunded"),
    ],
)  # fmt: skip
def test_a_refund_the_columns_cannot_prove_gets_the_cell_paths_error(
    program: Program, tmp_path: Path, deal: str, refund: str, problem: str
) -> None:
    rows = _example()
    deals = rows[reader.DEALS_FILE]
    line = next(n for n, cells in enumerate(deals) if cells[0] == deal)
    deals[line][deals[0].index("refunded_on")] = refund
    assert _problems_read_by_rows(rows, tmp_path, program) == [problem]


def test_the_columns_see_every_space_python_strips() -> None:
    spaces = [c for c in map(chr, range(0x110000)) if c.isspace()]
    others = [c for c in map(chr, range(0x3100)) if not c.isspace()]
    edged = pa.array([f"{c}x" for c in spaces] + [f"x{c}" for c in spaces])
    assert reader._stripped(edged).to_pylist() == ["x"] * len(edged)
    plain = pa.array([f"{c}x{c}" for c in others])
    assert reader._stripped(plain).to_pylist() == plain.to_pylist()
    mixed = pa.array([" \u3000\tx y\x1c\u2029 ", "\x85\xa0", "\U0001f600 x \U0001f600"])
    assert reader._stripped(mixed).to_pylist() == [cell.strip() for cell in mixed.to_pylist()]


CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(st.text(max_size=6) | st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=6)))
def test_a_control_character_is_found_the_same_in_ascii_and_other_columns(texts: list[str]) -> None:
    assert reader._has_control(pa.array(texts, pa.string())) == any(CONTROL.search(t) for t in texts)


@pytest.mark.parametrize("distinct", [3, 9_000, 20_000], ids=["repeated", "half", "all"])
def test_a_long_column_reads_the_same_texts_whether_or_not_it_repeats_them(distinct: int) -> None:
    cells = [f"T{i % distinct}" if i % 7 else "" for i in range(20_000)]
    values = reader._Values({"campaign": pa.array(cells)}, reader.Deal, ())
    values.text("campaign")
    assert values.columns["campaign"] == [cell or None for cell in cells]


def test_whole_numbers_read_by_arrow_are_the_decimals_parse_decimal_reads() -> None:
    # Digits are read as integers (and bounded by arrow's min and max); a negative zero, decimal places
    # or a number beyond 64 bits keep the text path. Each way the Decimals are parse_decimal's, exponent
    # and sign included.
    columns = {
        "whole": ["42", "007", "-5", "0", "-1000000000000", "100"],
        "negative zero": ["-0", "12", "-00"],
        "places": ["1.50", "2", "0.10"],
        "beyond 64 bits": ["99999999999999999999", "1"],
    }
    for name, cells in columns.items():
        values = reader._Values({"margin_pct": pa.array(cells)}, reader.Deal, ())
        if name == "beyond 64 bits":
            with pytest.raises(reader._Unproven):  # too large for a margin: refused either way
                values.convert("margin_pct", reader.parse_decimal)
            assert reader._whole_numbers(pa.array(cells)) is None
            continue
        values.convert("margin_pct", reader.parse_decimal)
        assert repr(values.columns["margin_pct"]) == repr([reader.parse_decimal(c) for c in cells]), name
    assert reader._whole_numbers(pa.array(columns["negative zero"])) is None
    assert reader._whole_numbers(pa.array(columns["places"])) is None


def test_a_whole_number_out_of_bounds_is_found_by_arrows_min_and_max() -> None:
    for cells in (["5", "-1", "7"], ["5", "101", "7"]):
        values = reader._Values({"discount_pct": pa.array(cells)}, reader.Deal, ())
        with pytest.raises(reader._Unproven):
            values.convert("discount_pct", reader.parse_decimal)


def test_each_deals_own_involvement_is_built_once_for_equal_cells_as_the_file_wrote_them() -> None:
    deals = {
        "partner_id": pa.array(["P1", "P1", "P1", "", "P2", "P1"]),
        "role": pa.array(["", "cosell", "COSELL", "", "influenced", ""]),
        "share": pa.array(["0.50", "0.5", "0.5", "", "", "0.50"]),
    }
    partners, links = reader._one_involvement_each(deals)
    half, half_written_long = Decimal("0.5"), Decimal("0.50")
    assert partners == [
        (reader.Involvement("P1", "sourced", half_written_long),),
        (reader.Involvement("P1", "cosell", half),),
        (reader.Involvement("P1", "cosell", half),),
        (),
        (reader.Involvement("P2", "influenced", None),),
        (reader.Involvement("P1", "sourced", half_written_long),),
    ]
    assert str(partners[0][0].share) == "0.50"
    assert partners[0][0] is partners[5][0]  # equal cells share one record
    assert set(links.texts("partner_id").to_pylist()) == {"", "P1", "P2"}


@pytest.mark.parametrize(
    "cells", [["COSELL", "boss"], ["\x00", "sourced"]], ids=["not a role", "a NUL"]
)  # fmt: skip
def test_an_own_involvement_the_columns_cannot_prove_is_left_to_the_cell_path(cells: list[str]) -> None:
    deals = {"partner_id": pa.array(["P1", "P2"]), "role": pa.array(cells)}
    with pytest.raises(reader._Unproven):
        reader._one_involvement_each(deals)


def test_known_ids_are_checked_once_each_text_without_hashing_the_ids() -> None:
    ids = pa.array(["P1", "P2", "P3"])
    reader._Columnar._known(pa.array(["P1", "", "P1", "P3", ""]), ids)
    reader._Columnar._known(pa.array(["", ""]), ids)
    for unknown in (["P1", "P4"], ["P4", "P4"], ["p1"]):
        with pytest.raises(reader._Unproven):
            reader._Columnar._known(pa.array(unknown), ids)


@pytest.mark.parametrize(
    ("links", "problem"),
    [
        ([["D1001", "P006", "influenced", ""], ["D1001", "P006", "cosell", ""]], None),
        ([["D1001", "P001", "influenced", ""]], None),
        ([["D2002", "P002", "sourced", "0.6"], ["D2002", "P006", "cosell", "0.5"]],
         "deal_partners.csv:3: share: the shares of deal 'D2002' add up to 1.1, more than 1"),
    ],
    ids=["two rows", "the deal's own partner", "shares over 1"],
)  # fmt: skip
def test_a_partner_twice_on_a_deal_or_shares_over_1_are_left_to_the_cell_path(
    program: Program, tmp_path: Path, links: list[list[str]], problem: str | None
) -> None:
    rows = _example()
    rows[reader.DEAL_PARTNERS_FILE] = [rows[reader.DEAL_PARTNERS_FILE][0], *links]
    for name, cells in rows.items():
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(cells)
        (tmp_path / name).write_text(out.getvalue(), "utf-8")
    assert reader._read_columnar(tmp_path, program) is None
    outcome = _outcome(lambda: reader.read_folder(tmp_path, program))
    assert outcome == _outcome(lambda: reader._Folder(tmp_path, program).read())
    if problem is not None:
        assert outcome[0] == "rejected" and any(p.startswith(problem) for p in outcome[1])  # type: ignore[union-attr]
