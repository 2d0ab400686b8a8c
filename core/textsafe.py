"""Text from a CRM or a CSV file, made safe for where cosell shows or writes it.

Partner names, ids and notes come from people: they may hold rich markup (``[bold red]``), terminal
control sequences (``\\x1b[2J`` clears the screen), NUL bytes, or a spreadsheet formula
(``=HYPERLINK(...)``) that would run when finance opens a CSV cosell wrote.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Protocol

from rich.markup import escape

__all__ = [
    "FORMULA_STARTS",
    "CsvWriter",
    "from_spreadsheet_cell",
    "from_spreadsheet_row",
    "spreadsheet_cell",
    "spreadsheet_column",
    "spreadsheet_row",
    "terminal_text",
    "without_nul",
]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""C0 and C1 control characters, less tab and newline: ESC starts a terminal control sequence."""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet reads a cell that starts with one of these as a formula (OWASP "CSV injection")."""

_MARKED_STARTS = (*FORMULA_STARTS, "'")

_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


def terminal_text(text: str) -> str:
    """``text`` for a rich console: markup escaped, control characters shown as ``\\x1b``, never sent."""
    visible = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return escape(visible)


def without_nul(text: str) -> str:
    """``text`` without NUL bytes, which CRMs and CSV readers refuse or cut the value at."""
    return text.replace("\x00", "")


def spreadsheet_cell(text: str) -> str:
    """A cell for a CSV file people open in a spreadsheet: NULs dropped, and a cell a spreadsheet would
    take as a formula prefixed with ``'`` (shown as text, the ``'`` hidden). A plain number such as
    ``-12.50`` stays as it is. A cell that already starts with ``'`` gets one more, so that
    :func:`from_spreadsheet_cell` gives back exactly what was written."""
    if not text:
        return text
    if "\x00" in text:
        text = without_nul(text)
    if text.startswith(_MARKED_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def spreadsheet_row(cells: Iterable[str]) -> list[str]:
    """:func:`spreadsheet_cell` of each cell; an empty cell, or one that starts with a letter or digit
    and holds no NUL (most cells), is taken as it is without a call."""
    return [
        cell if (not cell or cell[:1].isalnum()) and "\x00" not in cell else spreadsheet_cell(cell)
        for cell in cells
    ]


_MAY_MARK = re.compile(r"\x00[=+\-@\t\r']")
"""In cells joined by NUL, a cell after the first that starts with a character :func:`spreadsheet_cell`
may mark (a sign may still start a plain number)."""


def spreadsheet_column(cells: Sequence[str]) -> Sequence[str]:
    """:func:`spreadsheet_row` of ``cells`` (a file's column, say), or ``cells`` itself when that would
    change none of them. The cells are joined by NUL and searched in one pass, so a column of ids or
    amounts costs no call per cell: only a cell that starts with a sign is looked at (a plain number
    stays as it is); a NUL, or a cell to mark, sends the column through :func:`spreadsheet_row`."""
    if not cells:
        return cells
    joined = "\x00".join(cells)
    if joined.count("\x00") != len(cells) - 1 or spreadsheet_cell(cells[0]) != cells[0]:
        return spreadsheet_row(cells)
    for found in _MAY_MARK.finditer(joined):
        start = found.start() + 1
        end = joined.find("\x00", start)
        if joined[start] not in "+-" or not _PLAIN_NUMBER.fullmatch(
            joined, start, len(joined) if end < 0 else end
        ):
            return spreadsheet_row(cells)
    return cells


def from_spreadsheet_cell(text: str) -> str:
    """The value :func:`spreadsheet_cell` was given (cosell reads back the CSV files it wrote)."""
    return text[1:] if text.startswith("'") else text


def from_spreadsheet_row(cells: Iterable[str]) -> list[str]:
    """:func:`from_spreadsheet_cell` of each cell."""
    return [cell[1:] if cell[:1] == "'" else cell for cell in cells]


class _Writable(Protocol):
    def write(self, text: str, /) -> object: ...


def _quotes_cr() -> bool:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerow(["\r", ""])
    return text.getvalue().startswith('"')


_QUOTES_CR = _quotes_cr()
"""Whether ``csv.writer`` (lines ended by \\n) quotes a cell for a carriage return: Python 3.13 does, 3.11
and 3.12 do not, and a reader then ends the row at it. A delimiter, a quote and a line feed it always
quotes."""


class CsvWriter:
    """The writer of every CSV text cosell writes (comma, lines ended by \\n): ``csv.writer(handle,
    lineterminator="\\n")``, but quoting a cell holding a carriage return on every
    Python, as 3.13's does: a row holding one is written with lines ended by \\r\\n (which quotes every
    cell holding either character) and its own line end made \\n again. Other rows are written as
    ``csv.writer`` writes them."""

    __slots__ = ("_crlf", "_handle", "_lf", "_row")

    def __init__(self, handle: _Writable) -> None:
        self._handle = handle
        self._lf = csv.writer(handle, lineterminator="\n")
        self._row = io.StringIO()
        self._crlf = csv.writer(self._row, lineterminator="\r\n")

    def writerow(self, row: Iterable[object]) -> None:
        cells = row if isinstance(row, list | tuple) else list(row)
        if _QUOTES_CR or not any(isinstance(cell, str) and "\r" in cell for cell in cells):
            self._lf.writerow(cells)
            return
        self._row.seek(0)
        self._row.truncate()
        self._crlf.writerow(cells)
        self._handle.write(self._row.getvalue()[:-2] + "\n")

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)
