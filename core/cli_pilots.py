"""``cosell pilot report``: the arms of each pilot compared from the ledger (``cosell.pilot_report``)."""

from __future__ import annotations

import html
import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from .cli_shared import out, write_output
from .errors import ConfigError
from .ledger import Ledger
from .pilot_report import CONFIDENCE, MIN_PARTNERS, RESAMPLES, Comparison, PilotReport, as_json, report, shown
from .pilots import CONTROL, TEST
from .terminal_tables import print_table
from .textsafe import terminal_text

FORMATS = ("table", "json", "html")


def pilot_report(
    name: Annotated[str | None, typer.Option("--name", help="Only this pilot.")] = None,
    ledger: Annotated[
        str | None,
        typer.Option("--ledger", help="Ledger URL (default: $COSELL_LEDGER, else sqlite:///cosell.db)."),
    ] = None,
    format: Annotated[str, typer.Option("--format", help="table, json or html.")] = "table",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Compare each pilot's test and control arms, per period and over all its periods, with 90 %
    bootstrap intervals for the differences. Reads the ledger only."""
    if format not in FORMATS:
        raise ConfigError(f"--format: {format!r} is not one of {', '.join(FORMATS)}")
    with Ledger.connect(ledger, create=False) as book:
        if not book.exists:
            raise ConfigError(
                f"there is no ledger at {book.url} yet", hint="run `cosell run` first, or give --ledger"
            )
        reports = report(book, name)
    if not reports:
        wanted = f"named {name!r} " if name else ""
        raise ConfigError(
            f"the ledger holds no pilot {wanted}yet",
            hint="a program's `pilot:` section starts one; every run of it records the arms",
        )
    if format == "table" and output is None:
        _print_tables(reports)
        return
    text = json.dumps(as_json(reports), indent=2) + "\n" if format == "json" else _html(reports)
    if format == "table":
        console = Console(record=True, width=120, file=io.StringIO())
        _print_tables(reports, console)
        text = console.export_text()
    if output is None:
        typer.echo(text, nl=False)
    else:
        write_output(output, text)
        out.print(f"wrote {output}")


def _print_tables(reports: Sequence[PilotReport], console: Console = out) -> None:
    for r in reports:
        console.print(f"[bold]Pilot {terminal_text(r.name)}[/bold] (variant {terminal_text(r.variant)})")
        for comparison in (*r.periods, *((r.overall,) if r.overall else ())):
            print_table(console, _table(comparison))
            console.print(terminal_text(comparison.verdict))
            console.print()
    console.print(
        f"Intervals: {CONFIDENCE:.0%} percentile bootstrap over partners, {RESAMPLES} resamples, a fixed seed; "
        f"an arm with fewer than {MIN_PARTNERS} partners is too small to conclude."
    )


def _table(c: Comparison) -> Table:
    table = Table(title=f"{c.period}: {c.partners[TEST]} test and {c.partners[CONTROL]} control partners")
    for column, justify, figures in (
        ("Metric", "left", False),
        ("Test", "right", True),
        ("Control", "right", True),
        ("Difference", "right", True),
        (f"{CONFIDENCE:.0%} interval", "right", False),  # two figures: it wraps between them
        ("Reading", "left", False),
    ):
        table.add_column(column, justify=justify, no_wrap=figures)  # type: ignore[arg-type]
    for row in _rows(c):
        table.add_row(*row)
    return table


def _rows(c: Comparison) -> list[tuple[str, ...]]:
    return [
        (
            d.metric.label,
            shown(d.test, d.metric.places),
            shown(d.control, d.metric.places),
            shown(d.value, d.metric.places, sign=True),
            f"{shown(d.low, d.metric.places, sign=True)} to {shown(d.high, d.metric.places, sign=True)}",
            d.conclusion,
        )
        for d in c.differences
    ]


_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; color: #1d2330; max-width: 1000px; margin: 32px auto; padding: 0 16px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; }
th, td { padding: 6px 8px; border-bottom: 1px solid #d9dde5; text-align: right; }
th:first-child, td:first-child, td:last-child { text-align: left; }
caption { text-align: left; font-weight: 600; padding: 6px 0; }
.verdict { background: #f3f5f9; padding: 8px 12px; border-left: 4px solid #4a6fd1; }
.note { color: #5b6475; font-size: 13px; }
"""


def _html(reports: Sequence[PilotReport]) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Pilot report</title>",
        f"<style>{_STYLE}</style></head><body><h1>Pilot report</h1>",
    ]
    for r in reports:
        parts.append(f"<h2>Pilot {e(r.name)}</h2><p>Variant: {e(r.variant)}</p>")
        for c in (*r.periods, *((r.overall,) if r.overall else ())):
            head = "".join(
                f"<th>{e(h)}</th>"
                for h in ("Metric", "Test", "Control", "Difference", f"{CONFIDENCE:.0%} interval", "Reading")
            )
            body = "".join(
                "<tr>" + "".join(f"<td>{e(cell)}</td>" for cell in row) + "</tr>" for row in _rows(c)
            )
            caption = f"{c.period}: {c.partners[TEST]} test and {c.partners[CONTROL]} control partners"
            parts.append(
                f"<table><caption>{e(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
                f"<p class='verdict'>{e(c.verdict)}</p>"
            )
    parts.append(
        f"<p class='note'>Intervals: {CONFIDENCE:.0%} percentile bootstrap over partners, {RESAMPLES} resamples, "
        f"a fixed seed; an arm with fewer than {MIN_PARTNERS} partners is too small to conclude.</p></body></html>\n"
    )
    return "".join(parts)


def add_to(app: typer.Typer, reports_errors: Callable[[Any], Any]) -> None:
    """Add ``cosell pilot report`` to the command line, its errors reported as every command's."""
    group = typer.Typer(help="A/B pilots of a program's variant: compare the arms.", no_args_is_help=True)
    group.command("report")(reports_errors(pilot_report))
    app.add_typer(group, name="pilot")
