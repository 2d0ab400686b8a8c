"""``cosell compare``: one period under several programs, side by side; nothing stored or written back."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from . import compare_render
from .cli_connectors import connector
from .cli_shared import err, printed_to_stderr
from .compare import Comparison, checked_settings, compare_programs
from .errors import ConfigError, Problem, ProgramError
from .ledger import Ledger
from .money import show
from .periods import Period
from .pluginmanager import installed
from .program import LoadedProgram, load_program
from .terminal_tables import print_table
from .textsafe import terminal_text

FORMATS = ("table", "json", "csv", "html")
TABLE_PARTNERS = 50
"""Partners the terminal table shows, those whose earnings move most first (json and csv: every one)."""


def compare(
    programs: Annotated[
        list[Path],
        typer.Option(
            "--program",
            "-p",
            metavar="FILE",
            help="A program file (YAML); give two or more: the base first, then each variant.",
        ),
    ],
    connector_name: Annotated[
        str | None,
        typer.Option(
            "--connector",
            "-c",
            help="Where records come from (`cosell plugins` lists the installed connectors).",
        ),
    ] = None,
    input: Annotated[
        Path | None, typer.Option("--input", "-i", help="For a connector that reads a folder: that folder.")
    ] = None,
    ledger: Annotated[
        str | None,
        typer.Option(
            "--ledger",
            help="Ledger URL whose history the programs see (default: $COSELL_LEDGER, else "
            "sqlite:///cosell.db); only read, never created.",
        ),
    ] = None,
    period: Annotated[
        str | None, typer.Option("--period", help="2026-Q3 or 2026-07 (default: the base program's).")
    ] = None,
    format: Annotated[str, typer.Option("--format", help="table, json, csv or html.")] = "table",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Compute a period under several programs from the same records and ledger history, and show what
    each would pay whom. Stores nothing, writes nothing back, changes nothing in the CRM."""
    if format not in FORMATS:
        raise ConfigError(f"--format: {format!r} is not one of {', '.join(FORMATS)}")
    if len(programs) < 2:
        raise ConfigError(
            "cosell compare needs two or more --program files: the base first, then each variant"
        )
    loaded = _loaded(programs)
    # a document (json, csv, html): what plugins print while computing goes to stderr; stdout is the
    # comparison alone. The table, for a person to read, shows it with the table.
    with printed_to_stderr(format != "table"):
        plugins = installed()
        settings = checked_settings(loaded, plugins)
        source = connector(
            plugins,
            connector_name,
            input,
            None,
            command="compare",
            read_only=True,
            loaded=loaded[0],
            settings=settings[0],
        )
        with Ledger.connect(ledger, create=False, upgrade=False) as book:
            comparison = compare_programs(
                loaded, source, book, plugins, period=_period(period), settings=settings
            )
    _emit(comparison, format, output)


def _loaded(paths: list[Path]) -> list[LoadedProgram]:
    """Every program file, the problems of all of them reported at once."""
    problems: list[Problem] = []
    loaded = []
    for path in paths:
        try:
            loaded.append(load_program(path))
        except ProgramError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ProgramError(problems)
    return loaded


def _period(text: str | None) -> Period | None:
    if text is None:
        return None
    try:
        return Period.parse(text)
    except ValueError as exc:
        raise ConfigError(f"--period: {exc}") from None


def _emit(comparison: Comparison, format: str, output: Path | None) -> None:
    try:
        _write(comparison, format, output)
    except OSError as exc:
        raise ConfigError(f"-o: cannot write {output}: {exc.strerror or exc}") from None
    if output is not None:
        err.print(f"wrote {terminal_text(str(output))}")


def _write(comparison: Comparison, format: str, output: Path | None) -> None:
    if format == "table":
        console = Console(
            file=sys.stdout if output is None else open(output, "w", encoding="utf-8"),  # noqa: SIM115
            highlight=False,
            soft_wrap=True,
            width=None if output is None else 160,
        )
        try:
            print_tables(console, comparison)
        finally:
            if output is not None:
                console.file.close()
    else:
        render = {
            "json": compare_render.to_json,
            "csv": compare_render.to_csv,
            "html": compare_render.to_html,
        }
        text = render[format](comparison)
        if format == "csv":  # rows of partners: the notes go to stderr, as a run's do under --json
            for note in compare_render.notes(comparison):
                err.print(terminal_text(note))
        if output is None:
            sys.stdout.write(text)
        else:
            output.write_text(text, encoding="utf-8")


def print_tables(console: Console, comparison: Comparison) -> None:
    names = compare_render.labels(comparison)
    title = f"Programs, {comparison.period.key} ({comparison.currency}; nothing stored or written back)"
    programs = Table(title=title)
    programs.add_column("")
    for name in names:
        programs.add_column(terminal_text(name), justify="right")  # figures, and each program's name
    for label, cells, total in compare_render.program_rows(comparison):
        style = "bold" if total else None
        programs.add_row(*(terminal_text(c) for c in (label, *cells)), style=style)
    print_table(console, programs)
    for note in compare_render.notes(comparison):
        console.print(terminal_text(note))

    partners = Table(title="Partners (earnings difference: each variant less the base)")
    partners.add_column("Partner")
    partners.add_column("Name")
    for i, name in enumerate(names):
        partners.add_column(terminal_text(f"{name}\ntier · score"))
        partners.add_column("earnings", justify="right", no_wrap=True)
        if i:
            partners.add_column("difference", justify="right", no_wrap=True)
    shown = compare_render.moved_first(comparison.partners)[:TABLE_PARTNERS]
    for partner in shown:
        cells = [partner.id, partner.name]
        for i, (result, difference) in enumerate(zip(partner.results, partner.differences, strict=True)):
            cells += [f"{result.tier_shown} · {result.score:.2f}", show(result.earnings)]
            if i:
                cells.append(("+" if difference > 0 else "") + show(difference))
        partners.add_row(*(terminal_text(c) for c in cells))
    print_table(console, partners)
    if len(comparison.partners) > len(shown):
        console.print(
            f"… and {len(comparison.partners) - len(shown)} more partners, who move less "
            "(every one: --format json or csv)"
        )

    moved = [p for p in comparison.partners if p.tier_changes]
    if moved:
        console.print("Partners whose tier changes:")
        for p in moved:
            tiers = " → ".join(r.tier_shown for r in p.results)
            console.print(f"  {terminal_text(p.id)} {terminal_text(p.name)}: {terminal_text(tiers)}")
    else:
        console.print("No partner's tier changes.")

    if not comparison.deals:
        console.print("No deal's treatment changes (withheld, margin floor, accelerated); amounts may.")
        return
    deals = Table(title="Deals whose treatment changes")
    for column in ("Deal", "Name", "Partner", *names):
        deals.add_column(terminal_text(column))
    for deal in comparison.deals:
        cells = [deal.deal_id, deal.deal_name, deal.partner_id]
        cells += [compare_render.treatment_text(r) for r in deal.results]
        deals.add_row(*(terminal_text(c) for c in cells))
    print_table(console, deals)
