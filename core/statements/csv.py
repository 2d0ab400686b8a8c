"""``--format csv``: every stored line of the period with its explanation, one row a line."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from ..money import format_money
from ..textsafe import CsvWriter, spreadsheet_cell

if TYPE_CHECKING:
    from .document import StatementDocument

CSV_COLUMNS = ("partner_id", "period", "kind", "deal_id", "amount", "explanation")


def render(doc: StatementDocument) -> str:
    buffer = io.StringIO()
    writer = CsvWriter(buffer)
    writer.writerow(CSV_COLUMNS)
    for line in doc.lines:
        cells = (
            line.partner_id,
            line.period,
            line.kind,
            line.deal_id or "",
            format_money(line.amount),
            line.explanation,
        )
        writer.writerow([spreadsheet_cell(cell) for cell in cells])
    return buffer.getvalue()
