"""Tables for a terminal that never cut a figure short.

Rich fits a table to the console (80 columns when the output is not a terminal) by narrowing columns,
and cuts what no longer fits with "…": "+8,453.…" is no amount. Here a column declared ``no_wrap`` (an
amount, a date) keeps its widest cell whole and is narrowed last; in any other column a figure (a word
with a digit: an amount, a date, an id, "+1.27 to +3.40") is never cut either, while the text around it
wraps between words and folds a word too long for its column onto the next line. A table whose figures
need more than the console's width is printed wider, never cropped.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

__all__ = ["print_table"]


def print_table(console: Console, table: Table) -> None:
    """Print ``table`` with every figure whole (see the module's docstring)."""
    for column in table.columns:
        cells = [column.header, *column.cells] if table.show_header else list(column.cells)
        texts = [_plain(console, cell) for cell in cells]
        if column.no_wrap:
            widths = [cell_len(line) for text in texts for line in text.splitlines()]
        else:
            widths = [cell_len(w) for text in texts for w in text.split() if any(c.isdigit() for c in w)]
            column.overflow = "fold"
        column.min_width = max([column.min_width or 0, *widths])
    console.print(table, width=_layout_width(console, table), crop=False)


def _layout_width(console: Console, table: Table) -> int:
    """The width to lay ``table`` out in so that it fits the console when its figures allow. Rich narrows
    the columns that wrap to one width and then widens each back to its figures (``min_width``): laid out
    in the console's width, a table may come out a little wider, where narrowing its text further fits."""
    width = console.width
    if Measurement.get(console, console.options.update_width(_UNBOUNDED), table).maximum <= width:
        return width  # fits as it is: nothing is narrowed
    layout, used = width, _rendered_width(console, table, width)
    narrowest, chosen = used, layout
    for _ in range(_TRIES):
        layout -= max(1, used - width)
        if used <= width or layout < 1:
            break
        used = _rendered_width(console, table, layout)
        if used < narrowest:
            narrowest, chosen = used, layout
    return chosen


def _rendered_width(console: Console, table: Table, layout: int) -> int:
    lines = Segment.split_lines(console.render(table, console.options.update_width(layout)))
    return max((Segment.get_line_length(line) for line in lines), default=0)


_UNBOUNDED = 1_000_000
_TRIES = 8


def _plain(console: Console, cell: RenderableType) -> str:
    if isinstance(cell, Text):
        return cell.plain
    if isinstance(cell, str):
        return console.render_str(cell).plain
    return ""
