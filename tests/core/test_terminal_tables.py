"""Terminal tables never cut a figure: a figure column keeps its widest cell, text wraps and folds, and a
table whose figures need more than the console is printed wider, never cropped."""

import io
import re

from rich.console import Console
from rich.table import Table

from cosell.terminal_tables import print_table


def printed(table: Table, width: int) -> list[str]:
    buffer = io.StringIO()
    print_table(Console(file=buffer, width=width, color_system=None), table)
    return buffer.getvalue().splitlines()


def test_figures_stay_whole_and_text_wraps_when_the_console_is_narrow():
    table = Table()
    table.add_column("Partner name")
    table.add_column("Interval", justify="right")  # two figures: may wrap between them, never inside one
    for column in ("Earnings", "Difference", "Approved"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_row(
        "Contoso Consulting Worldwide",
        "+153,990.95 to +208,864.25",
        "1,234,567.89",
        "+8,453.12",
        "2026-07-18",
    )
    lines = printed(table, 64)
    text = "\n".join(lines)
    for figure in ("+153,990.95", "+208,864.25", "1,234,567.89", "+8,453.12", "2026-07-18", "Difference"):
        assert figure in text, figure
    assert "…" not in text and max(len(line) for line in lines) <= 64


def test_a_table_whose_figures_need_more_than_the_console_is_printed_wider_not_cropped():
    table = Table()
    for i in range(6):
        table.add_column(f"Amount {i}", justify="right", no_wrap=True)
    table.add_row(*["+1,234,567.89"] * 6)
    lines = printed(table, 40)
    assert lines[-2].count("+1,234,567.89") == 6 and "…" not in "\n".join(lines)


def test_a_table_that_fits_prints_as_rich_lays_it_out():
    def table() -> Table:
        t = Table(title="Payout lines")
        t.add_column("Kind")
        t.add_column("Amount", justify="right", no_wrap=True)
        t.add_row("commission", "13,996.80")
        return t

    buffer = io.StringIO()
    Console(file=buffer, width=80, color_system=None).print(table())
    assert printed(table(), 80) == buffer.getvalue().splitlines()


def adjustments(amount: str, reason: str) -> Table:
    """The table of ``cosell adjust list`` with one pending adjustment of ``amount`` for ``reason``."""
    t = Table(title="Adjustments")
    for column in ("Id", "Partner", "Amount", "State", "Period"):
        t.add_column(column, justify="right" if column in ("Id", "Amount") else "left", no_wrap=True)
    for column in ("Reason", "Proposed by", "Decided by", "Paid in"):
        t.add_column(column)
    t.add_row("1", "P002", amount, "pending", "2026-Q4", reason, "ann", "carol", "")
    return t


def test_no_column_is_narrowed_to_nothing_when_the_console_is_short_of_room():
    # rich, short of room, narrows columns of text to nothing: their titles and cells are gone
    for width in range(30, 101, 10):
        text = "\n".join(printed(adjustments("-1234567.89", "booth at the summit"), width))
        for shown in (
            "-1234567.89",
            "2026-Q4",
            "pending",
            "Reas",
            "Prop",
            "Deci",
            "Paid",
            "boot",
            "ann",
            "caro",
        ):
            assert shown in text, (width, shown)
        assert "…" not in text, width


def test_titles_wrap_between_their_words_never_inside_one_and_fit_an_80_column_console():
    for width in range(30, 121):
        lines = printed(adjustments("8453.12", "booth at the joint summit"), width)
        text = "\n".join(lines)
        for word in ("Reason", "Proposed", "Decided", "Paid", "by", "in", "Partner", "Period"):
            assert re.search(rf"(?<!\w){word}(?!\w)", text), (width, word, text)
        if width >= 80:  # room enough for every column and the words of its title
            assert max(len(line) for line in lines) <= width, (width, text)
