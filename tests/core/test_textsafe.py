"""CSV text cosell writes: every cell reads back as written, a carriage return included."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from cosell.textsafe import CsvWriter

CELL = st.text(alphabet=st.sampled_from("ab ,;\"\r\n\t'=é"), max_size=6)
ROWS = st.lists(st.lists(CELL, max_size=5), max_size=6)


def written(rows: list[list[str]]) -> str:
    text = io.StringIO()
    CsvWriter(text).writerows(rows)
    return text.getvalue()


def read_back(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@given(ROWS)
def test_every_row_reads_back_as_written_whatever_its_cells_hold(rows: list[list[str]]) -> None:
    assert read_back(written(rows)) == rows


@given(ROWS)
def test_rows_without_a_carriage_return_are_what_the_csv_module_writes(rows: list[list[str]]) -> None:
    rows = [[cell.replace("\r", "") for cell in row] for row in rows]
    expected = io.StringIO()
    csv.writer(expected, lineterminator="\n").writerows(rows)
    assert written(rows) == expected.getvalue()


def test_a_cell_holding_a_carriage_return_is_quoted_and_its_row_ends_with_a_line_feed() -> None:
    # Python 3.11 and 3.12's csv.writer leave such a cell bare: a reader then ends the row inside it
    assert written([["D1", "Acme\rCorp", "7.00"], ["\r"]]) == 'D1,"Acme\rCorp",7.00\n"\r"\n'


def test_cells_other_than_text_are_written_as_the_csv_module_writes_them() -> None:
    assert written([[1, None, "a\rb"], (2.5, "x")]) == '1,,"a\rb"\n2.5,x\n'
