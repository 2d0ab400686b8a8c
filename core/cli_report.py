"""``cosell report``: the program report for the quarterly review, from the ledger alone (docs/report.md).

Registered on the command line by ``cosell.cli``; kept in its own module so the command reads whole."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .cli_shared import out, period_option, printed_to_stderr, write_output
from .errors import ConfigError
from .ledger import Ledger
from .pluginmanager import installed
from .report.model import build
from .report.render import FORMATS, render
from .report.terminal import print_summary


def stdout_is_terminal() -> bool:
    """Whether standard output is a terminal (someone typed the command), not a pipe or a file."""
    return out.is_terminal


def report(
    period: Annotated[str, typer.Option("--period", help="The period the report is for, e.g. 2026-Q3.")],
    periods: Annotated[
        int, typer.Option("--periods", help="How many periods before it to show, when the ledger holds them.")
    ] = 4,
    ledger: Annotated[
        str | None,
        typer.Option("--ledger", help="Ledger URL (default: $COSELL_LEDGER, else sqlite:///cosell.db)."),
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="html (one self-contained page; the default), json or csv. On a terminal, without "
            "--format or -o: a text summary.",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """The program report: incentives against budget and margin, pipeline, win rate, velocity, MDF,
    every partner's tier and figures, the watch lists and the charts, for a period and those before it."""
    the_period = period_option("--period", period)
    summary = format is None and output is None and stdout_is_terminal()
    if format is None:
        format = "html"
    if format not in FORMATS:
        raise ConfigError(f"--format: {format!r} is not one of {', '.join(FORMATS)}")
    # a document (html, json, csv): what plugins print as they load goes to stderr; stdout is the report
    # alone. The summary, for a person to read, shows it with the summary.
    with printed_to_stderr(not summary):
        kinds = {name: kind for name, (_, kind) in installed().line_kinds().items()}
        with Ledger.connect(ledger, create=False) as book:
            if not book.exists:
                raise ConfigError(
                    f"there is no ledger at {book.url} yet", hint="run `cosell run` first, or give --ledger"
                )
            document = build(book, the_period, periods, kinds)
        if summary:
            print_summary(out, document)
            return
        text = render(document, format)
    if output is None:
        sys.stdout.write(text)
    else:
        write_output(output, text)
        typer.echo(f"wrote {output}", err=True)
