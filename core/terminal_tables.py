"""Tables for a terminal that never cut a figure short.

Rich fits a table to the console (80 columns when the output is not a terminal) by narrowing columns,
and cuts what no longer fits with "…": "+8,453.…" is no amount. Here a column declared ``no_wrap`` (an
amount, a date) keeps its widest cell whole and is narrowed last; in any other column a figure (a word
with a digit: an amount, a date, an id, "+1.27 to +3.40") is never cut either, while the text around it
wraps between words and folds a word too long for its column onto the next line. No column is narrowed
to nothing either (rich, short of room, drops whole columns, their titles and cells): a column of text
keeps a few cells at least, and the longest word of its title, so a title wraps between its words and
never inside one ("Reaso" over "n"). When that is what it takes to fit the console, columns are one cell
apart instead of two. A table whose figures and titles need more than the console's width is printed
wider, never cropped.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.cells import cell_len
from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.segment import Segment, Segments
from rich.table import Column, Table
from rich.text import Text

__all__ = ["print_table"]


def print_table(console: Console, table: Table) -> None:
    """Print ``table`` with every figure whole (see the module's docstring)."""
    for column in table.columns:
        texts = [_plain(console, cell) for cell in _cells(table, column)]
        if column.no_wrap:
            widths = [cell_len(line) for text in texts for line in text.splitlines()]
        else:
            widths = [cell_len(w) for text in texts for w in text.split() if any(c.isdigit() for c in w)]
            # a title wraps between its words, never inside one: "Reaso" over "n" is no title
            widths.append(_longest_word(console, [column.header] if table.show_header else []))
            column.overflow = "fold"
        column.min_width = max([column.min_width or 0, *widths])
    if Measurement.get(console, console.options.update_width(_UNBOUNDED), table).maximum <= console.width:
        console.print(table, crop=False)  # fits as it is: nothing is narrowed
        return
    natural = [
        whole - pad
        for whole, pad in zip(_column_widths(console, table, _UNBOUNDED), _padding(table), strict=True)
    ]
    # The least a column may get: a no_wrap column's widest cell, another's widest figure, the longest
    # word of its title and a few cells for its text. Rich, short of room, narrows a column of text to
    # nothing (it draws the column's borders with neither its title nor its cells between them).
    least = [
        n if column.no_wrap else min(n, max(column.min_width or 0, _TEXT))
        for n, column in zip(natural, table.columns, strict=True)
    ]

    def too_narrow(layout: int) -> bool:
        widths = _column_widths(console, table, layout)
        return any(w - pad < low for w, pad, low in zip(widths, _padding(table), least, strict=True))

    def layout() -> tuple[int, int] | None:
        """The width to lay the table out in and the width it then takes; None when too narrow."""
        return None if too_narrow(console.width) else _layout_width(console, table, too_narrow)

    chosen = layout()
    if not table.collapse_padding and (chosen is None or chosen[1] > console.width):
        # One cell between columns instead of two, when that is what it takes to fit the console.
        table.collapse_padding = True
        tighter = layout()
        if tighter is not None and tighter[1] <= console.width:
            chosen = tighter
        else:
            table.collapse_padding = False
    if chosen is not None:
        console.print(table, width=chosen[0], crop=False)
        return
    # Printed wider than the console: each column gets its least.
    for column, low in zip(table.columns, least, strict=True):
        column.width = low
    width = table._extra_width + sum(_padding(table)) + sum(column.width or 0 for column in table.columns)
    # Rendered in exactly its width: rich would narrow it back to a console narrower than the table.
    console.print(Segments(console.render(table, console.options.update_width(width))), crop=False)


def _layout_width(console: Console, table: Table, too_narrow: Callable[[int], bool]) -> tuple[int, int]:
    """The width to lay ``table`` out in so that it fits the console when its figures allow, and the
    width the table then takes. Rich narrows the columns that wrap to one width and then widens each back
    to its figures and the words of its title (``min_width``): laid out in the console's width, a table
    may come out a little wider, where narrowing its text further fits, short of a layout ``too_narrow``
    for a column."""
    width = console.width
    layout, used = width, _rendered_width(console, table, width)
    narrowest, chosen = used, layout
    for _ in range(_TRIES):
        layout -= max(1, used - width)
        if used <= width or layout < 1:
            break
        used = _rendered_width(console, table, layout)
        if used < narrowest:
            if too_narrow(layout):
                break
            narrowest, chosen = used, layout
    return chosen, narrowest


def _column_widths(console: Console, table: Table, layout: int) -> list[int]:
    """The widths, padding included, rich gives the columns of ``table`` laid out in ``layout`` cells
    (rich's own computation, and its padding above: private methods, there being no public ones)."""
    options = console.options.update_width(layout - table._extra_width)
    return table._calculate_column_widths(console, options)


def _rendered_width(console: Console, table: Table, layout: int) -> int:
    lines = Segment.split_lines(console.render(table, console.options.update_width(layout)))
    return max((Segment.get_line_length(line) for line in lines), default=0)


def _padding(table: Table) -> list[int]:
    """The padding rich puts around the cells of each column (its own computation: a private method)."""
    return [table._get_padding_width(i) for i in range(len(table.columns))]


def _cells(table: Table, column: Column) -> list[RenderableType]:
    """The column's title (when the table shows it) and cells."""
    return [column.header, *column.cells] if table.show_header else list(column.cells)


def _longest_word(console: Console, cells: list[RenderableType]) -> int:
    return max((cell_len(word) for cell in cells for word in _plain(console, cell).split()), default=1)


_UNBOUNDED = 1_000_000
_TRIES = 8
_TEXT = 4
"""The fewest cells a column of text keeps (its words fold onto the next lines)."""


def _plain(console: Console, cell: RenderableType) -> str:
    if isinstance(cell, Text):
        return cell.plain
    if isinstance(cell, str):
        return console.render_str(cell).plain
    return ""
