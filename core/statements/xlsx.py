"""``--format xlsx``: a workbook for finance, the period's lines and each partner's totals.

Amounts are numbers with a money format, never text, so they add up in the spreadsheet; every text cell
is stored as text (never a formula, whatever it starts with), control characters removed.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell, MergedCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from ..textsafe import FORMULA_STARTS, without_nul
from .model import ZERO

if TYPE_CHECKING:
    from .document import StatementDocument

LINE_COLUMNS = ("Partner", "Partner name", "Period", "Kind", "Deal", "Deal name", "Amount", "Withheld",
                "Explanation")  # fmt: skip
TOTAL_COLUMNS = ("Partner", "Partner name", "Tier", "Period earnings", "MDF and other lines",
                 "Total payable", "Projected, not paid")  # fmt: skip
WIDTHS = {"Explanation": 90, "Partner name": 28, "Deal name": 30}


def money_format(currency: str | None) -> str:
    """Two places, thousands separated, negatives in red, the currency after the number."""
    unit = f' "{currency}"' if currency and currency.isalpha() else ""
    return f"#,##0.00{unit};[Red]-#,##0.00{unit}"


def render(doc: StatementDocument) -> bytes:
    book = Workbook()
    money = money_format(doc.currency)
    lines = book.active
    assert lines is not None
    lines.title = "Lines"
    statements = {s.partner_id: s for s in doc.statements}
    _head(lines, LINE_COLUMNS)
    for line in doc.lines:
        s = statements.get(line.partner_id)
        deal_name = s.deal_name(line.deal_id) if s is not None and line.deal_id else None
        _row(
            lines,
            (
                line.partner_id,
                s.name if s else None,
                line.period,
                line.kind,
                line.deal_id,
                deal_name,
                line.amount,
                "yes" if line.withheld else None,
                line.explanation,
            ),
            money,
        )
    totals = book.create_sheet("Totals")
    _head(totals, TOTAL_COLUMNS)
    for s in doc.statements:
        _row(
            totals,
            (
                s.partner_id,
                s.name,
                (s.tier_shown if s.left_on is not None else s.assigned) if s.standing_recorded else None,
                s.earnings,
                s.outside_earnings,
                s.payable,
                s.projected,
            ),
            money,
        )
    sums = (
        sum((s.earnings for s in doc.statements), ZERO),
        sum((s.outside_earnings for s in doc.statements), ZERO),
        sum((s.payable for s in doc.statements), ZERO),
        sum((s.projected for s in doc.statements), ZERO),
    )
    _row(totals, ("Total", f"{len(doc.statements)} partners", None, *sums), money)
    for cell in totals[totals.max_row]:
        cell.font = Font(bold=True)
    book.properties.title = f"Partner statements {doc.period}"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _head(sheet: Worksheet, columns: Sequence[str]) -> None:
    sheet.append(list(columns))
    for index, name in enumerate(columns, start=1):
        sheet.cell(row=1, column=index).font = Font(bold=True)
        sheet.column_dimensions[get_column_letter(index)].width = WIDTHS.get(name, 14)
    sheet.freeze_panes = "A2"


def _row(sheet: Worksheet, values: Sequence[str | Decimal | None], money: str) -> None:
    row = sheet.max_row + 1
    for column, value in enumerate(values, start=1):
        cell = sheet.cell(row=row, column=column)
        if isinstance(value, Decimal):
            cell.value = value
            cell.number_format = money
        elif value is not None:
            _text(cell, value)


def _text(cell: Cell | MergedCell, value: str) -> None:
    """A text cell that no spreadsheet runs as a formula: stored as a string (openpyxl would store
    ``=...`` as a formula), shown with Excel's quote prefix when it starts like one."""
    text = ILLEGAL_CHARACTERS_RE.sub("", without_nul(value))
    cell.value = text
    cell.data_type = "s"
    if text.startswith(FORMULA_STARTS):
        cell.quotePrefix = True
